package main

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"text/template"
	"time"

	"github.com/outpost-dev/outpost/outpostapi"
	"github.com/outpost-dev/outpost/outpostapi/devcore"
	"github.com/outpost-dev/outpost/proxy"
)

//go:embed demo.yaml.tmpl
var demoConfigTemplate string

// demoPassword is the demo user's password; demo.yaml.tmpl holds only its hash.
const demoPassword = "outpost-demo"

type demoAddrs struct {
	core, outpost, metrics, upstream string
}

func demoCommand(args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	a := demoAddrs{}
	fs.StringVar(&a.outpost, "listen", "127.0.0.1:9000", "outpost HTTP address (open this in a browser)")
	fs.StringVar(&a.metrics, "metrics", "127.0.0.1:9300", "outpost metrics address")
	fs.StringVar(&a.core, "core", "127.0.0.1:9080", "stand-in core address")
	fs.StringVar(&a.upstream, "upstream", "127.0.0.1:9001", "whoami upstream address")
	standalone := fs.Bool("standalone", false, "standalone mode: the outpost reads a generated YAML file and signs people in at the stand-in core acting as a plain OpenID Connect issuer")
	if err := parseFlags(fs, args, demoHelp, 0); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *standalone {
		return runStandaloneDemo(ctx, a, os.Stdout)
	}
	return runDemo(ctx, a, os.Stdout)
}

// runDemo starts the stand-in core, the whoami upstream and the outpost, all
// in this process, and prints what to open. It returns when ctx is done.
func runDemo(ctx context.Context, a demoAddrs, out *os.File) error {
	level := new(slog.LevelVar)
	log := newLogger(os.Stderr, false, level)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	coreLn, err := net.Listen("tcp", a.core)
	if err != nil {
		return fmt.Errorf("core address: %w", err)
	}
	upLn, err := net.Listen("tcp", a.upstream)
	if err != nil {
		coreLn.Close()
		return fmt.Errorf("upstream address: %w", err)
	}
	// The outpost must be reachable under the host its provider names.
	_, port, _ := net.SplitHostPort(a.outpost)
	token := randomHex(24)
	cfgText, err := renderDemoConfig(map[string]string{
		"Token":        token,
		"CoreURL":      "http://" + coreLn.Addr().String(),
		"ExternalURL":  "http://localhost:" + port,
		"UpstreamURL":  "http://" + upLn.Addr().String(),
		"ClientSecret": randomHex(32),
		"CookieSecret": randomHex(16),
	})
	if err != nil {
		return err
	}
	cfg, err := devcore.ParseConfig(cfgText)
	if err != nil {
		return fmt.Errorf("embedded demo configuration: %w", err)
	}
	core, err := devcore.New(cfg, devcore.Options{Logger: log.With("component", "devcore")})
	if err != nil {
		return err
	}

	done := make(chan error, 3)
	go func() { done <- core.Serve(ctx, coreLn) }()
	go func() {
		done <- proxy.Serve(ctx, proxy.NewHTTPServer(http.HandlerFunc(whoamiHandler)), upLn, 5*time.Second)
	}()

	env, err := outpostapi.LoadEnv(mapLookup(map[string]string{
		"AUTHENTIK_HOST":            "http://" + coreLn.Addr().String() + "/",
		"AUTHENTIK_TOKEN":           token,
		"AUTHENTIK_LISTEN__HTTP":    a.outpost,
		"AUTHENTIK_LISTEN__METRICS": a.metrics,
		"AUTHENTIK_LOG_LEVEL":       "info",
		// The demo is plain HTTP on loopback; its HTTPS listener must not
		// take 0.0.0.0:9443, so it gets a free loopback port.
		"AUTHENTIK_LISTEN__HTTPS": "127.0.0.1:0",
	}), true)
	if err != nil {
		return err
	}
	ready := make(chan listenAddrs, 1)
	first := make(chan *outpostapi.Snapshot, 1)
	go func() {
		done <- runOutpost(ctx, outpostOptions{env: env, ready: ready, onSnapshot: func(s *outpostapi.Snapshot) {
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
		printDemoBanner(out, a, port, coreLn.Addr().String(), addrs, snap, token)
	case <-time.After(30 * time.Second):
		return errors.New("the outpost did not load its configuration from the stand-in core within 30 s")
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

func renderDemoConfig(values map[string]string) ([]byte, error) {
	t, err := template.New("demo").Option("missingkey=error").Parse(demoConfigTemplate)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	err = t.Execute(&b, values)
	return b.Bytes(), err
}

func printDemoBanner(out *os.File, a demoAddrs, port, core string, addrs listenAddrs, snap *outpostapi.Snapshot, token string) {
	fmt.Fprintf(out, "\nThe outpost is connected to the stand-in core and serves outpost %q.\n", snap.Outpost.Name)
	for _, p := range snap.Providers {
		fmt.Fprintf(out, "  provider %-10s %-15s %s -> %s\n", p.Name, p.Mode, p.ExternalHost, p.InternalHost)
	}
	fmt.Fprintf(out, `
  Open:        http://localhost:%s/
  Sign in as:  demo / %s
  Metrics:     http://%s/metrics
  Ping:        http://%s/outpost.goauthentik.io/ping
  Core status: curl -H 'Authorization: Bearer %s' http://%s/api/devcore/status

Press Ctrl-C to stop.
`, port, demoPassword, addrs.metrics, addrs.http, token, core)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func mapLookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}
