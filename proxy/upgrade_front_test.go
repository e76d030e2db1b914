package proxy_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outpost-dev/outpost/internal/nginxtest"
)

// Rows 1, 2 and 8 of issue 21 with the outpost in proxy mode behind a
// plain reverse proxy that passes upgrades on (nginx configured for
// websockets as its documentation has it; Caddy, which passes any upgrade
// by itself). The provider allows SPDY/3.1 besides websocket here, so the
// SPDY rows of the upgrade table are row 2's, and h2c and tcp must still
// never tunnel.
func TestUpgradesAndHopByHopBehindReverseProxies(t *testing.T) {
	for _, front := range []struct {
		name  string
		start func(t *testing.T, addr, outpost string)
	}{{"nginx", runNginxFront}, {"caddy", runCaddyFront}} {
		t.Run(front.name, func(t *testing.T) {
			ln := reserve(t)
			addr := ln.Addr().String()
			ln.Close()
			app := newTunnelApp(t)
			st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]", upstream: app.URL,
				trusted: true, external: "http://" + addr, basicAuth: true, aliceAttributes: aliceInjected,
				allowedUpgrades: []string{"websocket", "SPDY/3.1"}, maxWebsockets: 2})
			front.start(t, addr, strings.TrimPrefix(st.outpost, "http://"))
			site := "http://" + addr
			c := browser(t)
			if resp := signIn(t, c, getPage(t, c, site+"/"), "alice", "alice-pw"); resp.StatusCode != 200 {
				t.Fatalf("sign-in through %s: %d", front.name, resp.StatusCode)
			}
			cookie := cookieLine(t, c, site)
			t.Run("row 1", func(t *testing.T) {
				for _, row := range upgradeRows {
					if strings.Contains(strings.ToLower(row.req), "spdy") {
						continue
					}
					t.Run(row.name, func(t *testing.T) { checkUpgradeRow(t, app, addr, addr, cookie, row) })
				}
			})
			t.Run("row 8", func(t *testing.T) { checkHopByHopRows(t, app, addr, addr, cookie) })
			t.Run("row 2", func(t *testing.T) { checkTunnelCountedAndClosed(t, site, addr) })
		})
	}
}

// runNginxFront runs nginx on addr as a reverse proxy to the outpost that
// passes websockets (and so any Upgrade) on.
func runNginxFront(t *testing.T, addr, outpost string) {
	t.Helper()
	bin := nginxBinary(t)
	dir := t.TempDir()
	conf := nginxtest.Config(dir, "stderr", 64, fmt.Sprintf(`    map $http_upgrade $connection_upgrade { default upgrade; '' close; }
    server {
        listen %[1]s;
        location / {
            proxy_pass http://%[2]s;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
        }
    }
`, addr, outpost))
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	startServer(t, "nginx", exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf")), addr)
}

// runCaddyFront runs Caddy on addr with a bare reverse_proxy to the outpost.
func runCaddyFront(t *testing.T, addr, outpost string) {
	t.Helper()
	bin, err := exec.LookPath("caddy")
	if err != nil {
		t.Fatal("no caddy found: install Debian's caddy package (make test does)")
	}
	dir := t.TempDir()
	_, port, _ := strings.Cut(addr, ":")
	conf := fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n\tstorage file_system %s/data\n}\nhttp://127.0.0.1:%s {\n\tbind 127.0.0.1\n\treverse_proxy %s\n}\n", dir, port, outpost)
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", file, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	startServer(t, "caddy", cmd, addr)
}
