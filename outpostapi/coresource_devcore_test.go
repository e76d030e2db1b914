package outpostapi_test

// End-to-end tests of CoreSource against the devcore, the stand-in core that
// speaks the same REST + websocket contract. An external test package, since
// devcore imports outpostapi.

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/config"
	"github.com/outpost-dev/outpost/internal/devcore"
	"github.com/outpost-dev/outpost/outpostapi"
)

const (
	dcPK    = "5a4f8b1e-0c43-4d7e-9b1a-2f6c8d9e0a11"
	dcToken = "devcore-outpost-token-0123456789"
)

var dcProviders = map[string]string{
	"alpha": `
  - name: alpha
    external_host: https://alpha.example.com
    internal_host: http://127.0.0.1:9
    client_id: alpha-client
    client_secret: alpha-secret-0123456789abcdef0123456789
    cookie_secret: alpha-cookie-secret-0123456789
    certificate: alpha-tls`,
	"beta": `
  - name: beta
    mode: forward_single
    external_host: https://beta.example.com
    client_id: beta-client
    client_secret: beta-secret-0123456789abcdef0123456789
    cookie_secret: beta-cookie-secret-01234567890`,
	"gamma": `
  - name: gamma
    external_host: https://gamma.example.com
    internal_host: http://127.0.0.1:9
    client_id: gamma-client
    client_secret: gamma-secret-0123456789abcdef0123456789
    cookie_secret: gamma-cookie-secret-0123456789`,
}

// dcConfig is a devcore configuration with one outpost (token) serving the
// named providers.
func dcConfig(t *testing.T, token string, providers ...string) *devcore.Config {
	t.Helper()
	y := `
outposts:
  - pk: ` + dcPK + `
    name: e2e-outpost
    token: ` + token + `
    config:
      log_level: warning
      authentik_host: https://auth.example.com
    providers: [` + strings.Join(providers, ", ") + `]
providers:`
	for _, p := range providers {
		y += dcProviders[p]
	}
	y += `
certificates:
  - name: alpha-tls
`
	cfg, err := devcore.ParseConfig([]byte(y))
	if err != nil {
		t.Fatalf("devcore config: %v", err)
	}
	return cfg
}

type dcCore struct {
	*devcore.Server
	addr string
	done chan error
}

func startDevcore(t *testing.T, cfg *devcore.Config, addr string) *dcCore {
	t.Helper()
	return startDevcoreAs(t, cfg, addr, "")
}

// startDevcoreAs is startDevcore speaking as the core release version
// ("": as cfg says).
func startDevcoreAs(t *testing.T, cfg *devcore.Config, addr, version string) *dcCore {
	t.Helper()
	s, err := devcore.New(cfg, devcore.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), CoreVersion: version})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &dcCore{Server: s, addr: ln.Addr().String(), done: make(chan error, 1)}
	go func() { c.done <- s.Serve(context.Background(), ln) }()
	t.Cleanup(func() { c.stop(t) })
	return c
}

func (c *dcCore) stop(t *testing.T) {
	if c.Close() == nil {
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			t.Error("devcore did not stop")
		}
		c.done <- nil // a later stop returns at once
	}
}

func (c *dcCore) admin(t *testing.T, method, path, body string) []byte {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+c.addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+dcToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return b
}

type dcInstance struct {
	UUID        string         `json:"uuid"`
	Connected   bool           `json:"connected"`
	Connections int            `json:"connections"`
	Hello       map[string]any `json:"hello"`
}

// instance is what the devcore knows about one outpost instance.
func (c *dcCore) instance(t *testing.T, uuid string) (dcInstance, bool) {
	t.Helper()
	var st struct {
		Outposts []struct {
			PK        string       `json:"pk"`
			Instances []dcInstance `json:"instances"`
		} `json:"outposts"`
	}
	if err := json.Unmarshal(c.admin(t, http.MethodGet, "/api/devcore/status", ""), &st); err != nil {
		t.Fatal(err)
	}
	for _, o := range st.Outposts {
		for _, in := range o.Instances {
			if o.PK == dcPK && in.UUID == uuid {
				return in, true
			}
		}
	}
	return dcInstance{}, false
}

// e2eRun is a CoreSource running with handlers that record everything.
type e2eRun struct {
	src   *outpostapi.CoreSource
	snaps chan *outpostapi.Snapshot
	ends  chan outpostapi.SessionEnd
	conns chan bool
	done  chan error

	mu        sync.Mutex
	refreshes []error
	cancel    context.CancelFunc
}

func startE2E(t *testing.T, host, token string) *e2eRun {
	t.Helper()
	env, err := config.Load(func(k string) (string, bool) {
		v, ok := map[string]string{"AUTHENTIK_HOST": host, "AUTHENTIK_TOKEN": token}[k]
		return v, ok
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	r := &e2eRun{
		src: outpostapi.NewCoreSource(env.Core, outpostapi.CoreOptions{
			Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
			Version: "2026.2.2", BuildHash: "e2e",
		}),
		snaps: make(chan *outpostapi.Snapshot, 100), ends: make(chan outpostapi.SessionEnd, 100),
		conns: make(chan bool, 100), done: make(chan error, 1),
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		r.done <- r.src.Run(ctx, outpostapi.Handlers{
			OnSnapshot:   func(s *outpostapi.Snapshot) { r.snaps <- s },
			OnSessionEnd: func(e outpostapi.SessionEnd) { r.ends <- e },
			OnConnection: func(c bool) { r.conns <- c },
			OnRefresh: func(err error) {
				r.mu.Lock()
				r.refreshes = append(r.refreshes, err)
				r.mu.Unlock()
			},
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	})
	return r
}

// snapshotWith waits for a snapshot with exactly these provider names.
func (r *e2eRun) snapshotWith(t *testing.T, timeout time.Duration, names ...string) *outpostapi.Snapshot {
	t.Helper()
	want := strings.Join(names, ",")
	deadline := time.After(timeout)
	for {
		select {
		case s := <-r.snaps:
			var got []string
			for _, p := range s.Providers {
				got = append(got, p.Name)
			}
			sort.Strings(got)
			if strings.Join(got, ",") == want {
				return s
			}
		case err := <-r.done:
			t.Fatalf("Run returned: %v", err)
		case <-deadline:
			t.Fatalf("no snapshot with providers %s within %v", want, timeout)
		}
	}
}

func (r *e2eRun) waitConn(t *testing.T, want bool, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case c := <-r.conns:
			if c == want {
				return
			}
		case <-deadline:
			t.Fatalf("connection state never became %t within %v", want, timeout)
		}
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestDevcoreEndToEnd(t *testing.T) {
	t.Parallel()
	core := startDevcore(t, dcConfig(t, dcToken, "alpha", "beta"), "127.0.0.1:0")
	r := startE2E(t, "http://"+core.addr+"/", dcToken)

	s := r.snapshotWith(t, 10*time.Second, "alpha", "beta")
	if s.Outpost.PK != dcPK || s.Outpost.Name != "e2e-outpost" || s.Outpost.LogLevel != "warning" || s.Outpost.AuthentikHost != "https://auth.example.com" {
		t.Errorf("outpost = %+v", s.Outpost)
	}
	alpha := s.Providers[0]
	if alpha.Certificate == nil {
		t.Fatal("alpha has no certificate")
	}
	cert := s.Certificates[*alpha.Certificate]
	if _, err := tls.X509KeyPair([]byte(cert.CertPEM), []byte(cert.KeyPEM)); err != nil || cert.Fingerprint == "" {
		t.Errorf("alpha's certificate: %v (fingerprint %q)", err, cert.Fingerprint)
	}
	if s.Providers[0].OIDCConfiguration.TokenEndpoint == "" {
		t.Error("no oidc_configuration")
	}

	// The core sees this instance, connected, with every HELLO key.
	r.waitConn(t, true, 10*time.Second)
	var in dcInstance
	waitFor(t, 10*time.Second, "the instance in the devcore status", func() bool {
		var ok bool
		in, ok = core.instance(t, r.src.InstanceUUID())
		return ok && in.Connected && in.Hello != nil
	})
	host, _ := os.Hostname()
	want := map[string]any{
		"version": "2026.2.2", "buildHash": "e2e", "uuid": r.src.InstanceUUID(), "golangVersion": runtime.Version(),
		"opensslEnabled": false, "opensslVersion": "", "fipsEnabled": false, "hostname": host,
	}
	for k, v := range want {
		if in.Hello[k] != v {
			t.Errorf("core's view of HELLO %s = %#v, want %#v", k, in.Hello[k], v)
		}
	}

	// A configuration change reaches the outpost through TRIGGER_UPDATE.
	if err := core.SetConfig(dcConfig(t, dcToken, "alpha", "beta", "gamma")); err != nil {
		t.Fatal(err)
	}
	r.snapshotWith(t, outpostapi.DefaultTriggerDelayMax+5*time.Second, "alpha", "beta", "gamma")

	// Session ends, in both forms.
	const sid = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	core.admin(t, http.MethodPost, "/api/devcore/session-end", `{"session_id":"`+sid+`"}`)
	core.admin(t, http.MethodPost, "/api/devcore/session-end", `{"session_id":"`+sid+`","legacy":true}`)
	for _, w := range []outpostapi.SessionEnd{{SessionID: sid}, {SessionID: sid, Legacy: true}} {
		select {
		case got := <-r.ends:
			if got != w {
				t.Errorf("session end %+v, want %+v", got, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("session end %+v not delivered", w)
		}
	}

	// Shutdown closes the websocket.
	r.cancel()
	waitFor(t, 10*time.Second, "the core to see the websocket closed", func() bool {
		in, _ := core.instance(t, r.src.InstanceUUID())
		return in.Connections == 0
	})
}

func TestDevcoreCoreDownAtStart(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := startE2E(t, "http://"+addr+"/", dcToken)
	waitFor(t, 10*time.Second, "a failed attempt", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.refreshes) > 0
	})
	core := startDevcore(t, dcConfig(t, dcToken, "beta"), addr)
	r.snapshotWith(t, 20*time.Second, "beta")
	r.waitConn(t, true, 40*time.Second)
	waitFor(t, 10*time.Second, "the instance connected", func() bool {
		in, ok := core.instance(t, r.src.InstanceUUID())
		return ok && in.Connected
	})
}

// A devcore restart (Close sends 1012) with a changed configuration: the
// outpost reconnects, says HELLO, and refreshes without any TRIGGER_UPDATE.
func TestDevcoreRestart(t *testing.T) {
	t.Parallel()
	core := startDevcore(t, dcConfig(t, dcToken, "beta"), "127.0.0.1:0")
	addr := core.addr
	r := startE2E(t, "http://"+addr+"/", dcToken)
	r.snapshotWith(t, 10*time.Second, "beta")
	r.waitConn(t, true, 10*time.Second)

	core.stop(t)
	r.waitConn(t, false, 10*time.Second)
	time.Sleep(time.Second)
	core2 := startDevcore(t, dcConfig(t, dcToken, "beta", "gamma"), addr)
	r.waitConn(t, true, 40*time.Second)
	r.snapshotWith(t, 10*time.Second, "beta", "gamma")
	waitFor(t, 10*time.Second, "the instance back in the new core", func() bool {
		in, ok := core2.instance(t, r.src.InstanceUUID())
		return ok && in.Connected && in.Hello["uuid"] == r.src.InstanceUUID()
	})
}

func TestDevcoreWrongTokenThenAccepted(t *testing.T) {
	t.Parallel()
	core := startDevcore(t, dcConfig(t, "some-other-token-0123456789", "beta"), "127.0.0.1:0")
	r := startE2E(t, "http://"+core.addr+"/", dcToken)
	waitFor(t, 15*time.Second, "two rejected attempts", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		n := 0
		for _, err := range r.refreshes {
			if errors.Is(err, outpostapi.ErrTokenRejected) {
				n++
			}
		}
		return n >= 2
	})
	select {
	case err := <-r.done:
		t.Fatalf("Run gave up: %v", err)
	default:
	}
	if err := core.SetConfig(dcConfig(t, dcToken, "beta")); err != nil {
		t.Fatal(err)
	}
	r.snapshotWith(t, 10*time.Second, "beta")
	r.waitConn(t, true, 10*time.Second)
}
