package proctest

import (
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestStartKeepsOutputAndKillsAtCleanup(t *testing.T) {
	var cmd *exec.Cmd
	var out *Buffer
	t.Run("process", func(t *testing.T) {
		cmd = exec.Command("sh", "-c", "echo to-stdout; echo to-stderr >&2; exec sleep 60")
		out = Start(t, "sh", cmd)
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), "to-stderr") || !strings.Contains(out.String(), "to-stdout") {
			if time.Now().After(deadline) {
				t.Fatalf("output so far: %q", out.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	// The subtest's cleanup has run: the process is gone.
	if cmd.ProcessState == nil || cmd.ProcessState.Success() {
		t.Fatalf("after cleanup: %v", cmd.ProcessState)
	}
}

func TestWaitTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	WaitTCP(t, "listener", ln.Addr().String(), 5*time.Second)
}
