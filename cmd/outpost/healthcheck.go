package main

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
)

// healthcheckCommand is what container healthchecks run (spec §1.1): HEAD the
// ping path on the metrics listener, exit 0 when it answers below 400. With
// a URL argument it HEADs that URL instead, so containers without a shell
// (the devcore, whoami) can be checked too.
func healthcheckCommand(getenv func(string) string, args []string) int {
	addr := getenv("AUTHENTIK_LISTEN__METRICS")
	if addr == "" {
		addr = "0.0.0.0:9300"
	}
	// The newer comma-list form: the first address is enough.
	addr = strings.TrimSpace(strings.Split(addr, ",")[0])
	target := "http://" + addr + "/outpost.goauthentik.io/ping"
	if len(args) > 0 {
		target = args[0]
	}
	req, err := http.NewRequest(http.MethodHead, target, nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "healthcheck: AUTHENTIK_LISTEN__METRICS=%q: %v\n", addr, err)
		return 1
	}
	req.Header.Set("User-Agent", "goauthentik.io/healthcheck")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		fmt.Fprintf(os.Stderr, "healthcheck: %v\n", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		fmt.Fprintf(os.Stderr, "healthcheck: ping answered %d\n", resp.StatusCode)
		return 1
	}
	return 0
}
