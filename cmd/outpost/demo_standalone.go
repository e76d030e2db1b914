package main

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"text/template"
	"time"

	"github.com/outpost-dev/outpost/outpostapi"
	"github.com/outpost-dev/outpost/outpostapi/devcore"
	"github.com/outpost-dev/outpost/proxy"
)

// The standalone demo: the devcore as a plain OpenID Connect issuer, the
// outpost in standalone mode from a YAML file it writes, and the whoami
// app, so the standalone path can be tried with nothing else installed.

//go:embed demo_standalone_issuer.yaml.tmpl
var standaloneIssuerTemplate string

//go:embed demo_standalone_outpost.yaml.tmpl
var standaloneOutpostTemplate string

// runStandaloneDemo is runDemo's standalone counterpart; it returns when
// ctx is done.
func runStandaloneDemo(ctx context.Context, a demoAddrs, out *os.File) error {
	log := newLogger(os.Stderr, false, new(slog.LevelVar))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	coreLn, err := net.Listen("tcp", a.core)
	if err != nil {
		return fmt.Errorf("issuer address: %w", err)
	}
	upLn, err := net.Listen("tcp", a.upstream)
	if err != nil {
		coreLn.Close()
		return fmt.Errorf("upstream address: %w", err)
	}
	_, port, _ := net.SplitHostPort(a.outpost)
	values := map[string]string{
		"ExternalURL":  "http://localhost:" + port,
		"UpstreamURL":  "http://" + upLn.Addr().String(),
		"IssuerURL":    "http://" + coreLn.Addr().String() + "/application/o/whoami/",
		"ClientSecret": randomHex(32),
		"CookieSecret": randomHex(16),
	}
	issuerText, err := renderTemplate(standaloneIssuerTemplate, values)
	if err != nil {
		return err
	}
	cfg, err := devcore.ParseConfig(issuerText)
	if err != nil {
		return fmt.Errorf("embedded issuer configuration: %w", err)
	}
	core, err := devcore.New(cfg, devcore.Options{Logger: log.With("component", "devcore")})
	if err != nil {
		return err
	}
	// The outpost reads a real file, as in production: the newcomer can
	// open it, edit it and watch it reload.
	dir, err := os.MkdirTemp("", "outpost-demo-standalone")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	outpostText, err := renderTemplate(standaloneOutpostTemplate, values)
	if err != nil {
		return err
	}
	configPath := filepath.Join(dir, "providers.yaml")
	if err := os.WriteFile(configPath, outpostText, 0o600); err != nil {
		return err
	}

	done := make(chan error, 3)
	go func() { done <- core.Serve(ctx, coreLn) }()
	go func() {
		done <- proxy.Serve(ctx, proxy.NewHTTPServer(http.HandlerFunc(whoamiHandler)), upLn, 5*time.Second)
	}()
	env, err := outpostapi.LoadEnv(mapLookup(map[string]string{
		"AUTHENTIK_LISTEN__HTTP":    a.outpost,
		"AUTHENTIK_LISTEN__METRICS": a.metrics,
		"AUTHENTIK_LOG_LEVEL":       "info",
		"AUTHENTIK_LISTEN__HTTPS":   "127.0.0.1:0",
	}), false)
	if err != nil {
		return err
	}
	ready := make(chan listenAddrs, 1)
	first := make(chan *outpostapi.Snapshot, 1)
	go func() {
		done <- runOutpost(ctx, outpostOptions{env: env, configPath: configPath, ready: ready, onSnapshot: func(s *outpostapi.Snapshot) {
			select {
			case first <- s:
			default:
			}
		}})
	}()
	select {
	case err := <-done:
		return err
	case snap := <-first:
		addrs := <-ready
		printStandaloneBanner(out, port, configPath, addrs, snap)
	case <-time.After(30 * time.Second):
		return errors.New("the outpost did not load its configuration within 30 s")
	}
	var firstErr error
	for range 3 {
		if err := <-done; err != nil && firstErr == nil && !errors.Is(err, context.Canceled) {
			firstErr = err
			cancel()
		}
	}
	return firstErr
}

func renderTemplate(text string, values map[string]string) ([]byte, error) {
	t, err := template.New("demo").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	err = t.Execute(&b, values)
	return b.Bytes(), err
}

func printStandaloneBanner(out *os.File, port, configPath string, addrs listenAddrs, snap *outpostapi.Snapshot) {
	fmt.Fprintf(out, "\nThe outpost runs in standalone mode: its providers come from %s\n(edit it: it reloads), and people sign in at the devcore acting as a plain OpenID Connect issuer.\n", configPath)
	for _, p := range snap.Providers {
		fmt.Fprintf(out, "  provider %-10s %s -> %s\n    issuer:       %s\n    redirect URI: %s\n", p.Name, p.ExternalHost, p.InternalHost, p.Issuer, p.RedirectURI)
	}
	fmt.Fprintf(out, `
  Open:        http://localhost:%s/
  Sign in as:  demo / %s   (in group ops: the rule lets demo in)
               guest / %s  (not in ops: the rule refuses guest)
  Metrics:     http://%s/metrics

Press Ctrl-C to stop.
`, port, demoPassword, demoPassword, addrs.metrics)
}
