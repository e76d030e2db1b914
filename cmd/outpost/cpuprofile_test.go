package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// OUTPOST_CPU_PROFILE (make pgo): the outpost writes a CPU profile that
// the Go toolchain reads, finished when it stops on SIGTERM; a path it
// cannot create stops it at start with the variable's name.
func TestCPUProfileForPGO(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "providers.yaml")
	if err := os.WriteFile(cfg, []byte(standaloneYAML), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("written on SIGTERM", func(t *testing.T) {
		httpAddr, metricsAddr := freeAddr(t), freeAddr(t)
		prefix := filepath.Join(dir, "cpu")
		p := start(t, []string{"AUTHENTIK_LISTEN__HTTP=" + httpAddr, "AUTHENTIK_LISTEN__METRICS=" + metricsAddr,
			"OUTPOST_CPU_PROFILE=" + prefix}, "--config", cfg)
		p.waitFor(t, "configuration in force", 30*time.Second)
		waitHTTP(t, "http://"+metricsAddr+"/outpost.goauthentik.io/ping")
		for range 200 {
			get(t, "http://"+httpAddr+"/some/page", "prom.test")
		}
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p.wait(t, 30*time.Second); code != 0 {
			t.Fatalf("exit %d", code)
		}
		path := prefix + "." + strconv.Itoa(p.cmd.Process.Pid)
		out, err := exec.Command("go", "tool", "pprof", "-raw", path).CombinedOutput()
		if err != nil {
			t.Fatalf("go tool pprof cannot read %s: %v\n%s", path, err, out)
		}
		if !strings.Contains(string(out), "PeriodType: cpu nanoseconds") {
			t.Errorf("not a CPU profile:\n%.500s", out)
		}
	})

	t.Run("a path it cannot create", func(t *testing.T) {
		p := start(t, []string{"AUTHENTIK_LISTEN__HTTP=" + freeAddr(t), "AUTHENTIK_LISTEN__METRICS=" + freeAddr(t),
			"OUTPOST_CPU_PROFILE=" + filepath.Join(dir, "no-such-dir", "cpu")}, "--config", cfg)
		if code := p.wait(t, 30*time.Second); code == 0 {
			t.Fatal("started anyway")
		}
		if out := p.output(); !strings.Contains(out, "OUTPOST_CPU_PROFILE") || !strings.Contains(out, "no-such-dir") {
			t.Errorf("the error does not name the variable and the path:\n%s", out)
		}
	})
}
