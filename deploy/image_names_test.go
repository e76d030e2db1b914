package deploy

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The image's binary answers as authentik's Go outpost (/proxy
// healthcheck) and as its Rust outpost of 2026.8+ (/authentik healthcheck
// proxy, /authentik proxy), so either core's Docker integration finds a
// healthy container (issue 23, item 1).
func TestImageAnswersBothOutpostNames(t *testing.T) {
	dir := imageBinary(t)
	ping := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/outpost.goauthentik.io/ping" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		http.NotFound(w, r)
	}))
	defer ping.Close()
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"proxy", []string{"healthcheck"}},
		{"authentik", []string{"healthcheck", "proxy"}},
		{"outpost", []string{"healthcheck"}},
		{"outpost", []string{"healthcheck", "proxy"}},
	} {
		t.Run("/"+tc.name+" "+strings.Join(tc.args, " "), func(t *testing.T) {
			for metrics, want := range map[string]bool{ping.Listener.Addr().String(): true, deadAddr: false} {
				cmd := exec.Command(filepath.Join(dir, tc.name), tc.args...)
				cmd.Env = []string{"AUTHENTIK_LISTEN__METRICS=" + metrics}
				out, err := cmd.CombinedOutput()
				if (err == nil) != want {
					t.Errorf("/%s %v with the ping at %s: %v %s, want success %v", tc.name, tc.args, metrics, err, out, want)
				}
			}
		})
	}

	t.Run("authentik proxy starts the outpost", func(t *testing.T) {
		cfg := filepath.Join(t.TempDir(), "providers.yaml")
		if err := os.WriteFile(cfg, []byte(`providers:
  - name: app
    external_host: http://app.test
    internal_host: http://127.0.0.1:1
    issuer: http://127.0.0.1:1/
    client_id: app
    client_secret: s
    cookie_secret: 0123456789abcdef
`), 0o600); err != nil {
			t.Fatal(err)
		}
		free := func() string {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			return ln.Addr().String()
		}
		metrics := free()
		env := []string{"AUTHENTIK_LISTEN__HTTP=" + free(), "AUTHENTIK_LISTEN__HTTPS=" + free(), "AUTHENTIK_LISTEN__METRICS=" + metrics}
		srv := exec.Command(filepath.Join(dir, "authentik"), "proxy", "--config", cfg)
		srv.Env = env
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
		deadline := time.Now().Add(30 * time.Second)
		for {
			hc := exec.Command(filepath.Join(dir, "authentik"), "healthcheck", "proxy")
			hc.Env = env
			if hc.Run() == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("/authentik proxy never answered /authentik healthcheck proxy")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}
