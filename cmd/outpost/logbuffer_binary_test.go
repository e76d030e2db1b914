package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"
)

// An outpost whose stderr nobody reads (a stuck log pipe) keeps answering:
// its access lines are buffered, then dropped and counted, never waited
// for. Before the log buffer, the first 64 KB of lines filled the pipe and
// every request after that hung on its line.
func TestStuckLogOutputDoesNotStopRequests(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "providers.yaml")
	if err := os.WriteFile(cfg, []byte(standaloneYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	stuckR, stuckW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stuckR.Close() // never read
	httpAddr, metricsAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(binary, "--config", cfg)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "AUTHENTIK_LISTEN__HTTPS=127.0.0.1:0",
		"AUTHENTIK_LISTEN__HTTP=" + httpAddr, "AUTHENTIK_LISTEN__METRICS=" + metricsAddr}
	cmd.Stdout, cmd.Stderr = stuckW, stuckW
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stuckW.Close()
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	waitHTTP(t, "http://"+metricsAddr+"/outpost.goauthentik.io/ping")

	// About 16,000 access lines of ~300 bytes: past the pipe's 64 KB and
	// the buffer's 4 MiB. Four clients, each on its keep-alive connection.
	const perClient = 4000
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for range perClient {
				req, _ := http.NewRequest(http.MethodGet, "http://"+httpAddr+"/some/page?x=1", nil)
				req.Host = "prom.test"
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a request failed while the log output was stuck: %v", err)
	}

	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`(?m)^outpost_log_lines_dropped_total (\S+)$`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("no outpost_log_lines_dropped_total:\n%s", grepLines(string(b), "outpost_log"))
	}
	dropped, _ := strconv.ParseFloat(m[1], 64)
	if dropped <= 0 || dropped >= 4*perClient {
		t.Errorf("dropped %v of %d lines, want some but not all", dropped, 4*perClient)
	}
}
