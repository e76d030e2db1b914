// Package promtest runs a real Prometheus (Debian's package) on 127.0.0.1
// for tests.
package promtest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/proctest"
)

// Server is a running Prometheus.
type Server struct {
	Addr string // host:port of its web listener
}

// Start runs Prometheus with the given scrape targets (host:port, scraped
// every second as job "outpost") and rule files, itself as job
// "prometheus", and waits until it is ready. It stops with the test.
func Start(t testing.TB, targets []string, ruleFiles ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus not found: run ./scripts/install-test-deps.sh (Debian package prometheus)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	quoted := func(list []string) string {
		q := make([]string, len(list))
		for i, s := range list {
			q[i] = fmt.Sprintf("%q", s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	config := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: %s
scrape_configs:
  - job_name: prometheus
    static_configs: [{targets: [%q]}]
  - job_name: outpost
    static_configs: [{targets: %s}]
`, quoted(ruleFiles), addr, quoted(targets))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	proctest.Start(t, "prometheus", cmd)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return &Server{Addr: addr}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("prometheus not ready after 60 s") // its output follows, from proctest
		}
		time.Sleep(100 * time.Millisecond)
	}
}
