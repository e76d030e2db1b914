package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a server the harness started and must stop.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string // where its output went
}

// freeAddr is a free 127.0.0.1 port, closed so the next process can bind it.
func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatalf("no free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs name with args and env; its output goes to a file in dir,
// opened for appending as a log file is, so that the harness can empty it
// between runs (truncateLog) while the process keeps writing.
func start(dir, name string, env []string, bin string, args ...string) *proc {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logPath := filepath.Join(dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		fatalf("%s: %v", name, err)
	}
	defer f.Close() // the child has its own copy
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		fatalf("starting %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath}
	running = append(running, p)
	return p
}

// running are the processes to stop on exit, in reverse start order.
var running []*proc

func (p *proc) stop() {
	if p == nil || p.cmd.Process == nil || p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

func stopAll() {
	for i := len(running) - 1; i >= 0; i-- {
		running[i].stop()
	}
	running = nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// logSize is how many bytes the process has written to its log since the
// last truncateLog.
func (p *proc) logSize() int64 {
	fi, err := os.Stat(p.log)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// truncateLog empties the process's log; it goes on appending at the start.
func (p *proc) truncateLog() {
	if err := os.Truncate(p.log, 0); err != nil {
		fatalf("%s: %v", p.name, err)
	}
}

// waitHTTP polls url until it answers want, or fails after timeout.
func waitHTTP(p *proc, url string, want int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	c := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		if p != nil && p.cmd.ProcessState != nil {
			fatalf("%s exited: see %s", p.name, p.log)
		}
		if resp, err := c.Get(url); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	name := "server"
	if p != nil {
		name = p.name + " (log: " + p.log + ")"
	}
	fatalf("%s did not answer %d at %s within %s", name, want, url, timeout)
}

// waitTCP polls addr until it accepts a connection.
func waitTCP(p *proc, addr string, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	fatalf("%s did not listen on %s within %s (log: %s)", p.name, addr, timeout, p.log)
}

// statusKB reads a "Vm...:  N kB" line of /proc/pid/status.
func statusKB(pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// rssMB is the current resident set; peakMB the high-water mark since the
// last resetPeak (VmHWM).
func rssMB(pid int) float64  { return float64(statusKB(pid, "VmRSS")) / 1024 }
func peakMB(pid int) float64 { return float64(statusKB(pid, "VmHWM")) / 1024 }

// resetPeak resets VmHWM to the current RSS (Linux: clear_refs 5), so the
// peak of each scenario is its own.
func resetPeak(pid int) {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// ctxSleep sleeps d or until ctx ends.
func ctxSleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	stopAll()
	os.Exit(1)
}

// cpuTime is the user+system CPU time pid has used (clock ticks of 10 ms).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	rest := string(b)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
