package main

import (
	"context"
	_ "embed"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/outpost-dev/outpost/internal/config"
	"github.com/outpost-dev/outpost/outpostapi"
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
	coreLn, upLn, err := demoListeners(a, "issuer")
	if err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(a.outpost)
	values := standaloneDemoValues(coreLn.Addr().String(), port, upLn.Addr().String())
	issuerText, err := renderTemplate(standaloneIssuerTemplate, values)
	if err != nil {
		return closeBoth(coreLn, upLn, err)
	}
	// The outpost reads a real file, as in production: the newcomer can
	// open it, edit it and watch it reload.
	dir, err := os.MkdirTemp("", "outpost-demo-standalone")
	if err != nil {
		return closeBoth(coreLn, upLn, err)
	}
	defer os.RemoveAll(dir)
	outpostText, err := renderTemplate(standaloneOutpostTemplate, values)
	if err != nil {
		return closeBoth(coreLn, upLn, err)
	}
	configPath := filepath.Join(dir, "providers.yaml")
	if err := os.WriteFile(configPath, outpostText, 0o600); err != nil {
		return closeBoth(coreLn, upLn, err)
	}
	env, err := config.Load(mapLookup(map[string]string{
		"AUTHENTIK_LISTEN__HTTP":    a.outpost,
		"AUTHENTIK_LISTEN__METRICS": a.metrics,
		"AUTHENTIK_LOG_LEVEL":       "info",
		"AUTHENTIK_LISTEN__HTTPS":   "127.0.0.1:0",
	}), false)
	if err != nil {
		return closeBoth(coreLn, upLn, err)
	}
	return serveDemo(ctx, demoRun{
		coreText: issuerText, coreLn: coreLn, upLn: upLn, outpost: outpostOptions{env: env, configPath: configPath},
		what: "the outpost did not load its configuration within 30 s",
		banner: func(addrs listenAddrs, snap *outpostapi.Snapshot) {
			printStandaloneBanner(out, port, configPath, addrs, snap)
		},
	})
}

// standaloneDemoValues fill both templates of the standalone demo: the
// issuer's (the stand-in core) and the outpost's.
func standaloneDemoValues(coreAddr, port, upstreamAddr string) map[string]string {
	return map[string]string{
		"ExternalURL":  "http://localhost:" + port,
		"UpstreamURL":  "http://" + upstreamAddr,
		"IssuerURL":    "http://" + coreAddr + "/application/o/whoami/",
		"ClientSecret": randomHex(32),
		"CookieSecret": randomHex(16),
	}
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
