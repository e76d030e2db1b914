package main

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/outpost-dev/outpost/internal/config"
)

// healthcheckCommand is what container healthchecks run (spec §1.1): HEAD the
// ping path on the metrics listener, succeed when it answers below 400. With
// a URL argument it HEADs that URL instead, so containers without a shell
// (the devcore, whoami) can be checked too. "healthcheck proxy" is the form
// authentik 2026.8+ gives its Rust outpost's containers
// (["/authentik", "healthcheck", "proxy"]): the outpost's own ping.
func healthcheckCommand(getenv func(string) string, args []string) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	if err := parseFlags(fs, args, healthcheckHelp, 1); err != nil {
		return err
	}
	addr := getenv("AUTHENTIK_LISTEN__METRICS")
	if addr == "" {
		addr = config.DefaultListenMetrics
	}
	// The newer comma-list form: the first address is enough.
	addr = strings.TrimSpace(strings.Split(addr, ",")[0])
	target := "http://" + addr + "/outpost.goauthentik.io/ping"
	if fs.NArg() > 0 && fs.Arg(0) != "proxy" {
		target = fs.Arg(0)
	}
	req, err := http.NewRequest(http.MethodHead, target, nil)
	if err != nil {
		if fs.NArg() > 0 {
			return usageError(fmt.Sprintf("URL %q: %v", target, err))
		}
		return fmt.Errorf("AUTHENTIK_LISTEN__METRICS=%q: %v", addr, err)
	}
	req.Header.Set("User-Agent", "goauthentik.io/healthcheck")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return errors.New("ping answered " + resp.Status)
	}
	return nil
}
