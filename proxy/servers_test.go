package proxy_test

import (
	"os/exec"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/proctest"
)

// startServer runs a real server process (nginx, Caddy) for the test, waits
// until it accepts connections on addr, stops it at cleanup and shows its
// output if the test failed.
func startServer(t *testing.T, name string, cmd *exec.Cmd, addr string) {
	t.Helper()
	proctest.Start(t, name, cmd)
	proctest.WaitTCP(t, name, addr, 15*time.Second)
}
