package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// What an operator reads in core mode: the configuration in force and a
// provider left out are logged once, not again on every refresh that
// finds the same; the devcore logs the websocket's attempt and close code
// as numbers (a close code is no secret, though its key is "code").
func TestCoreModeLogLines(t *testing.T) {
	t.Parallel()
	cfg := filepath.Join(t.TempDir(), "core.yaml")
	// Provider d is one the core serves and the outpost refuses: domain
	// mode without a cookie_domain.
	doc := strings.Replace(devcoreYAML, "providers: [a, c]", "providers: [a, c, d]\n    config: {log_level: debug}", 1) + `  - name: d
    mode: forward_domain
    external_host: http://d.test
    client_id: d
    client_secret: d-secret-0123456789abcdef0123456789
    cookie_secret: d-cookie-0123456789
`
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	coreAddr, httpAddr, metricsAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	core := start(t, nil, "devcore", "--config", cfg, "--listen", coreAddr)
	core.waitFor(t, "devcore listening", 30*time.Second)
	out := start(t, []string{
		"AUTHENTIK_HOST=http://" + coreAddr + "/", "AUTHENTIK_TOKEN=file-outpost-token",
		"AUTHENTIK_LISTEN__HTTP=" + httpAddr, "AUTHENTIK_LISTEN__METRICS=" + metricsAddr,
	})
	out.waitFor(t, "configuration in force", 30*time.Second)
	core.waitFor(t, "outpost websocket connected", 30*time.Second)

	// The core asks for a refresh, which finds what is in force.
	req, _ := http.NewRequest("POST", "http://"+coreAddr+"/api/devcore/trigger-update", nil)
	req.Header.Set("Authorization", "Bearer file-outpost-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	out.waitFor(t, "configuration refreshed, unchanged", 30*time.Second)
	logs := out.output()
	t.Run("once each", func(t *testing.T) {
		for _, msg := range []string{`"msg":"configuration in force"`, `"msg":"provider left out of the configuration"`} {
			if n := strings.Count(logs, msg); n != 1 {
				t.Errorf("%s logged %d times:\n%s", msg, n, grepLines(logs, "msg"))
			}
		}
	})

	if err := out.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	out.wait(t, 30*time.Second)
	closed := core.waitFor(t, "outpost websocket closed", 30*time.Second)
	t.Run("close code", func(t *testing.T) {
		if !strings.Contains(closed, `"code":1000`) {
			t.Errorf("close line: %s", closed)
		}
	})
	t.Run("attempt", func(t *testing.T) {
		if line := grepLines(core.output(), "outpost websocket connected"); !strings.Contains(line, `"attempt":0`) {
			t.Errorf("connect line: %s", line)
		}
	})
}
