// Package redistest runs a real redis-server (Debian's package, which
// scripts/install-test-deps.sh installs) on 127.0.0.1 for tests, and can stop
// and restart it to test failures: one node (Start), a master and a replica
// watched by sentinels (StartSentinel), or a Redis Cluster (StartCluster).
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is one redis-server process on 127.0.0.1. It writes an append-only
// file (fsync on every write) in a temporary directory, so a Restart after
// Kill keeps the data, as a persistent production Redis would.
type Server struct {
	t    testing.TB
	bin  string
	port int
	dir  string
	// Password, if set, is required from clients (requirepass).
	Password string
	// args are extra redis-server arguments (Options.Args).
	args []string
	// configFile: start from <dir>/redis.conf (Options.ConfigFile).
	configFile bool
	// argv, when set, is the whole command line instead (sentinels).
	argv func() []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	logs *strings.Builder
	done chan struct{}
}

// Binary finds redis-server or fails the test with what to install.
func Binary(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"redis-server", "/usr/bin/redis-server"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("no redis-server found: install Debian's redis-server package (make test does, through scripts/install-test-deps.sh)")
	return ""
}

// Start runs a fresh redis-server on a free port; it is stopped at cleanup.
func Start(t testing.TB) *Server { return StartWithPassword(t, "") }

// StartWithPassword is Start with requirepass set.
func StartWithPassword(t testing.TB, password string) *Server {
	t.Helper()
	return StartWith(t, Options{Password: password})
}

// Options vary the server StartWith runs.
type Options struct {
	// Password, if set, is required from clients (requirepass).
	Password string
	// Args are more redis-server arguments, e.g. "--maxmemory-policy",
	// "allkeys-lru".
	Args []string
	// ConfigFile starts the server from a configuration file (empty at
	// first) that CONFIG REWRITE can write, as Sentinel expects of the
	// nodes it reconfigures; the arguments still apply over it.
	ConfigFile bool
}

// StartWith is Start with options.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	s := &Server{t: t, bin: Binary(t), dir: t.TempDir(), Password: o.Password, args: o.Args, configFile: o.ConfigFile, logs: &strings.Builder{}}
	if s.configFile {
		if err := os.WriteFile(filepath.Join(s.dir, "redis.conf"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s.start()
	return s
}

// start runs the server on a free port, and stops it at cleanup.
func (s *Server) start() {
	t := s.t
	t.Helper()
	var err error
	for range 5 {
		if s.port, err = freePort(); err != nil {
			continue
		}
		if err = s.run(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("starting %s: %v", filepath.Base(s.bin), err)
	}
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			s.mu.Lock()
			t.Logf("%s on port %d said:\n%s", filepath.Base(s.bin), s.port, s.logs.String())
			s.mu.Unlock()
		}
	})
}

// Addr is host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL is a redis:// URL for the server, with the password if any.
func (s *Server) URL() string {
	if s.Password != "" {
		return fmt.Sprintf("redis://:%s@%s/0", s.Password, s.Addr())
	}
	return "redis://" + s.Addr() + "/0"
}

func (s *Server) commandLine() []string {
	if s.argv != nil {
		return s.argv()
	}
	var args []string
	if s.configFile {
		args = append(args, filepath.Join(s.dir, "redis.conf"))
	}
	args = append(args, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--appendfsync", "always",
		"--dir", s.dir, "--daemonize", "no", "--loglevel", "warning")
	if s.Password != "" {
		args = append(args, "--requirepass", s.Password)
	}
	return append(args, s.args...)
}

func (s *Server) run() error {
	cmd := exec.Command(s.bin, s.commandLine()...)
	w := &lockedWriter{mu: &s.mu, b: s.logs}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if s.ping() == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited: %s", filepath.Base(s.bin), s.output())
		default:
		}
		if time.Now().After(deadline) {
			s.Kill()
			return fmt.Errorf("%s did not answer on %s: %s", filepath.Base(s.bin), s.Addr(), s.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *Server) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// ping speaks just enough RESP to see the server answer.
func (s *Server) ping() error {
	c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if s.Password != "" {
		fmt.Fprintf(c, "AUTH %s\r\n", s.Password)
	}
	fmt.Fprint(c, "PING\r\n")
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if strings.HasPrefix(line, "+PONG") {
			return nil
		}
		if strings.HasPrefix(line, "-") && !strings.HasPrefix(line, "-LOADING") {
			return fmt.Errorf("redis: %s", strings.TrimSpace(line))
		}
		if strings.HasPrefix(line, "-LOADING") {
			return fmt.Errorf("loading")
		}
	}
}

// Kill stops the server at once (SIGKILL), as a crash would; its data is
// kept on disk for Restart. Safe to call when it is not running.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Restart starts the server again on the same port, with its data.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	var err error
	for range 50 {
		if err = s.run(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond) // the port may linger briefly
	}
	s.t.Fatalf("restarting %s: %v", filepath.Base(s.bin), err)
}

// Running reports whether the process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
