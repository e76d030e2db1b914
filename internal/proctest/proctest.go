// Package proctest runs real server processes for tests (nginx, Caddy,
// Prometheus, the outpost's own binary): their output kept and shown when
// the test fails, and the process killed when the test ends.
package proctest

import (
	"bytes"
	"net"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// Buffer collects what many goroutines write (a process's output, a
// logger's lines) and can be read meanwhile.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (buf *Buffer) Write(p []byte) (int, error) {
	buf.mu.Lock()
	defer buf.mu.Unlock()
	return buf.b.Write(p)
}

func (buf *Buffer) String() string {
	buf.mu.Lock()
	defer buf.mu.Unlock()
	return buf.b.String()
}

// Start starts cmd with its stdout and stderr collected. When the test
// ends the process is killed and, if the test failed, its output is logged
// under name.
func Start(t testing.TB, name string, cmd *exec.Cmd) *Buffer {
	t.Helper()
	out := &Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// Child processes may hold the output pipe; don't wait on them forever.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s said:\n%s", name, out.String())
		}
	})
	return out
}

// WaitTCP waits until addr accepts connections, and fails the test if it
// does not within timeout.
func WaitTCP(t testing.TB, name, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start listening on %s within %s", name, addr, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
