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

	"github.com/outpost-dev/outpost/internal/config"
	"github.com/outpost-dev/outpost/internal/devcore"
	"github.com/outpost-dev/outpost/outpostapi"
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
	coreLn, upLn, err := demoListeners(a, "core")
	if err != nil {
		return err
	}
	// The outpost must be reachable under the host its provider names.
	_, port, _ := net.SplitHostPort(a.outpost)
	token := randomHex(24)
	cfgText, err := demoCoreConfig(token, coreLn.Addr().String(), port, upLn.Addr().String())
	if err != nil {
		return closeBoth(coreLn, upLn, err)
	}
	env, err := config.Load(mapLookup(map[string]string{
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
		return closeBoth(coreLn, upLn, err)
	}
	return serveDemo(ctx, demoRun{
		coreText: cfgText, coreLn: coreLn, upLn: upLn, outpost: outpostOptions{env: env},
		what: "the outpost did not load its configuration from the stand-in core within 30 s",
		banner: func(addrs listenAddrs, snap *outpostapi.Snapshot) {
			printDemoBanner(out, a, port, coreLn.Addr().String(), addrs, snap, token)
		},
	})
}

// demoCoreConfig is the stand-in core's configuration for the demo: the
// outpost's token, the core's and the upstream's addresses, the outpost's
// port.
func demoCoreConfig(token, coreAddr, port, upstreamAddr string) ([]byte, error) {
	return renderTemplate(demoConfigTemplate, map[string]string{
		"Token":        token,
		"CoreURL":      "http://" + coreAddr,
		"ExternalURL":  "http://localhost:" + port,
		"UpstreamURL":  "http://" + upstreamAddr,
		"ClientSecret": randomHex(32),
		"CookieSecret": randomHex(16),
	})
}

// demoListeners takes the stand-in core's (named coreName in errors) and
// the upstream's addresses.
func demoListeners(a demoAddrs, coreName string) (coreLn, upLn net.Listener, err error) {
	coreLn, err = net.Listen("tcp", a.core)
	if err != nil {
		return nil, nil, fmt.Errorf("%s address: %w", coreName, err)
	}
	upLn, err = net.Listen("tcp", a.upstream)
	if err != nil {
		coreLn.Close()
		return nil, nil, fmt.Errorf("upstream address: %w", err)
	}
	return coreLn, upLn, nil
}

func closeBoth(a, b net.Listener, err error) error {
	a.Close()
	b.Close()
	return err
}

// demoRun is what a demo runs in this process: the stand-in core from
// coreText, the whoami upstream and the outpost.
type demoRun struct {
	coreText     []byte
	coreLn, upLn net.Listener
	outpost      outpostOptions
	banner       func(listenAddrs, *outpostapi.Snapshot)
	what         string // the error when no configuration loads in time
}

// serveDemo runs d until ctx is done, printing the banner once the outpost
// has its first configuration.
func serveDemo(ctx context.Context, d demoRun) error {
	log := newLogger(os.Stderr, false, new(slog.LevelVar))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cfg, err := devcore.ParseConfig(d.coreText)
	if err != nil {
		return closeBoth(d.coreLn, d.upLn, fmt.Errorf("embedded stand-in core configuration: %w", err))
	}
	core, err := devcore.New(cfg, devcore.Options{Logger: log.With("component", "devcore")})
	if err != nil {
		return closeBoth(d.coreLn, d.upLn, err)
	}
	done := make(chan error, 3)
	go func() { done <- core.Serve(ctx, d.coreLn) }()
	go func() {
		done <- proxy.Serve(ctx, proxy.NewHTTPServer(http.HandlerFunc(whoamiHandler)), d.upLn, 5*time.Second)
	}()
	ready := make(chan listenAddrs, 1)
	first := make(chan *outpostapi.Snapshot, 1)
	opts := d.outpost
	opts.ready = ready
	opts.onSnapshot = func(s *outpostapi.Snapshot) {
		select {
		case first <- s:
		default:
		}
	}
	go func() { done <- runOutpost(ctx, opts) }()

	select {
	case err := <-done:
		return err
	case snap := <-first:
		d.banner(<-ready, snap)
	case <-time.After(30 * time.Second):
		return errors.New(d.what)
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

// renderTemplate fills a demo's embedded configuration template.
func renderTemplate(text string, values map[string]string) ([]byte, error) {
	t, err := template.New("demo").Option("missingkey=error").Parse(text)
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
