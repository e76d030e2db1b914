package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/outpost-dev/outpost/internal/nginxtest"
	"golang.org/x/crypto/bcrypt"
)

var passwordHash, appPasswordHash string

func hashOnce() {
	if passwordHash != "" {
		return
	}
	h1, err := bcrypt.GenerateFromPassword([]byte(benchPassword), bcrypt.MinCost)
	if err != nil {
		fatalf("%v", err)
	}
	h2, err := bcrypt.GenerateFromPassword([]byte(benchAppPassword), bcrypt.MinCost)
	if err != nil {
		fatalf("%v", err)
	}
	passwordHash, appPasswordHash = string(h1), string(h2)
}

// extraHost is the external host of the i-th scale provider (1-based).
func extraHost(i int) string { return fmt.Sprintf("p%04d.bench.test", i) }

// writeCoreConfig writes the devcore's file: two outposts (the second with
// its log off), the app (proxy mode, on the outpost's own address), fwd
// (forward_single behind nginx) and, for the first outpost, extra
// providers more, then the user. Rewriting it is a configuration change the
// devcore pushes to the outpost (TRIGGER_UPDATE).
func writeCoreConfig(w *world, extra int) {
	hashOnce()
	var b strings.Builder
	names := []string{"app", "fwd"}
	for i := 1; i <= extra; i++ {
		names = append(names, fmt.Sprintf("p%04d", i))
	}
	fmt.Fprintf(&b, `admin_token: bench-admin-token-0123456789
outposts:
  - pk: 7d3b9f5c-2a61-4e8e-9c1d-0b5a4f3e2d10
    name: bench-outpost-1
    token: %s
    refresh_interval_s: 3600
    config:
      log_level: info
      authentik_host: http://%s
    providers: [%s]
  # The same outpost with its access log off (a second process: see
  # startQuiet); a name of the same length, so that it sends the app
  # headers of the same size.
  - pk: 2c9e4b7a-5d18-4f3a-8e6b-3a0f1d2c4b95
    name: bench-outpost-2
    token: %s
    refresh_interval_s: 3600
    config:
      log_level: warning
      authentik_host: http://%s
    providers: [app, fwd]
providers:
  - name: app
    mode: proxy
    external_host: http://%s
    internal_host: http://%s
    client_id: app-client
    client_secret: app-client-secret-0123456789abcdef0123456789
    cookie_secret: app-cookie-secret-0123456789abcdef
    access_token_validity: 86400
    scopes_to_request: [openid, email, profile, entitlements, ak_proxy]
  - name: fwd
    mode: forward_single
    external_host: http://%s
    internal_host: http://%s
    client_id: fwd-client
    client_secret: fwd-client-secret-0123456789abcdef0123456789
    cookie_secret: fwd-cookie-secret-0123456789abcdef
    access_token_validity: 86400
    scopes_to_request: [openid, email, profile, entitlements, ak_proxy]
`, outpostToken, w.coreAddr, strings.Join(names, ", "), quietToken, w.coreAddr, w.outAddr, w.upAddr, w.ngxOutAddr, w.upAddr)
	for i := 1; i <= extra; i++ {
		fmt.Fprintf(&b, `  - name: p%04d
    external_host: http://%s
    internal_host: http://%s
    client_id: p%04d-client
    client_secret: p%04d-client-secret-0123456789abcdef0123456789
    cookie_secret: p%04d-cookie-secret-0123456789abcdef
    skip_path_regex: |-
      ^/public/
`, i, extraHost(i), w.upAddr, i, i, i)
	}
	fmt.Fprintf(&b, `groups:
  - name: ops
    attributes:
      additionalHeaders:
        X-Team: platform
  - name: developers
users:
  - username: %s
    password_hash: %q
    email: bench@example.com
    name: Bench Person
    groups: [ops, developers]
    attributes: {}
    app_passwords: [%q]
`, benchUser, passwordHash, appPasswordHash)
	tmp := w.coreFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		fatalf("%v", err)
	}
	if err := os.Rename(tmp, w.coreFile); err != nil {
		fatalf("%v", err)
	}
}

// startRedis runs redis-server on addr without persistence, with more
// arguments after the harness's own.
func startRedis(cfg config, name, addr string, more ...string) *proc {
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	dir := filepath.Join(cfg.dir, name)
	_ = os.MkdirAll(dir, 0o700)
	args := append([]string{"--bind", "127.0.0.1", "--port", port, "--save", "",
		"--appendonly", "no", "--dir", dir, "--protected-mode", "no"}, more...)
	p := start(cfg.dir, name, nil, cfg.redis, args...)
	waitTCP(p, addr, 10*time.Second)
	return p
}

// nginxAuthPath is where the shipped snippet's auth_request asks.
const nginxAuthPath = "/outpost.goauthentik.io/auth/nginx"

// startNginx starts one single-process nginx serving the app on addr,
// protected as operators protect it: the shipped deploy/nginx snippets as
// they are, and the upstream block they document, with its auth requests
// going to auth (the outpost, or for the floors a Go endpoint answering
// 200). The floors run the very same configuration, so nginx's work for a
// request differs only by what the auth answer carries. Connections to the
// auth endpoint and the app are kept alive; nginx reaches them from
// 127.0.0.2, the outpost's one trusted proxy.
func startNginx(w *world, name, addr, auth string) *proc {
	cfg := w.cfg
	dir := filepath.Join(cfg.dir, name)
	_ = os.MkdirAll(dir, 0o700)
	deploy := filepath.Join(cfg.repo, "deploy/nginx")
	conf := nginxtest.Config(dir, dir+"/error.log", 4096, fmt.Sprintf(`    upstream outpost { server %[1]s; keepalive 128; }
    upstream app { server %[2]s; keepalive 128; }
    server {
        listen %[3]s;
        proxy_bind 127.0.0.2;
        include %[4]s/outpost-locations.conf;
        location / {
            include %[4]s/outpost-auth.conf;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://app;
        }
    }
`, auth, w.upAddr, addr, deploy))
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		fatalf("%v", err)
	}
	if out, err := exec.Command(cfg.nginx, "-t", "-p", dir, "-c", path).CombinedOutput(); err != nil {
		fatalf("nginx -t: %v\n%s", err, out)
	}
	p := start(cfg.dir, name, nil, cfg.nginx, "-p", dir, "-c", path)
	waitTCP(p, addr, 10*time.Second)
	return p
}
