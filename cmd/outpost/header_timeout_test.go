package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// OUTPOST_PROXY__RESPONSE_HEADER_TIMEOUT reaches the data plane: an
// upstream that never sends its headers is a 504 page after it.
func TestResponseHeaderTimeoutFromEnv(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(app.Close)
	t.Cleanup(app.CloseClientConnections)
	yaml := strings.Replace(issuerYAML("http://"+freeAddr(t)), "internal_host: http://127.0.0.1:1", "internal_host: "+app.URL+"\n    skip_path_regex: \"^/\"", 1)
	cfg := filepath.Join(t.TempDir(), "providers.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr := freeAddr(t)
	p := start(t, []string{"AUTHENTIK_LISTEN__HTTP=" + httpAddr, "AUTHENTIK_LISTEN__METRICS=" + freeAddr(t), "OUTPOST_PROXY__RESPONSE_HEADER_TIMEOUT=1s"}, "--config", cfg)
	p.waitFor(t, "configuration in force", 30*time.Second)
	waitHTTP(t, "http://"+httpAddr+"/outpost.goauthentik.io/ping")
	began := time.Now()
	code, body := get(t, "http://"+httpAddr+"/slow", "toy.test")
	took := time.Since(began)
	if code != http.StatusGatewayTimeout || !strings.Contains(body, "Gateway timeout") {
		t.Errorf("hanging upstream: %d %q", code, body)
	}
	if took < 900*time.Millisecond || took > 5*time.Second {
		t.Errorf("answered after %s, want about 1 s", took)
	}
}
