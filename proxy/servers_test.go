package proxy_test

import (
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// startServer runs a real server process (nginx, Caddy) for the test, waits
// until it accepts connections on addr, stops it at cleanup and shows its
// output if the test failed.
func startServer(t *testing.T, name string, cmd *exec.Cmd, addr string) {
	t.Helper()
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	// Child processes may hold the output pipe; don't wait on them forever.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s said:\n%s", name, logs.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start listening on %s", name, addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
