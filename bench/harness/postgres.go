package main

import (
	"fmt"
	"net"
	"strconv"

	"github.com/outpost-dev/outpost/internal/pgtest"
)

// postgresScenario measures proxy mode with sessions in PostgreSQL (a
// fresh server from Debian's package, started for the scenario) with the
// store's read cache, as deployed. A -baseline from before the PostgreSQL
// store would keep its sessions in memory, so it sits this one out.
func (w *world) postgresScenario() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatalf("%v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	srv, err := pgtest.Launch(port)
	if err != nil {
		fmt.Printf("note: no PostgreSQL scenario: %v\n", err)
		return
	}
	defer srv.Stop()
	env := []string{
		"AUTHENTIK_POSTGRESQL__HOST=" + srv.Host(), "AUTHENTIK_POSTGRESQL__PORT=" + strconv.Itoa(srv.Port()),
		"AUTHENTIK_POSTGRESQL__NAME=" + pgtest.Database, "AUTHENTIK_POSTGRESQL__USER=" + pgtest.User,
		"AUTHENTIK_POSTGRESQL__PASSWORD=" + pgtest.Password, "AUTHENTIK_POSTGRESQL__SSLMODE=disable",
	}
	w.storeScenario("proxy session (postgresql)", env)
}

// storeScenario measures proxy mode with a session in the store env
// names, beside this tree's outpost with its sessions in memory in the
// baseline's place (older revisions may not know the store): the
// before/after row is what the shared store costs a request.
func (w *world) storeScenario(name string, env []string) {
	w.startOutpost(env)
	w.startQuiet(env)
	signedIn := func(dial string) []string {
		return []string{"Cookie: " + signInVia("http://"+w.outAddr, dial, benchUser, benchPassword), "Accept: text/html"}
	}
	w.withReference("memory store", nil, func() {
		w.proxyMode(name, "/", signedIn, 200, "ok bench", true, "baseline: the same outpost with its sessions in memory")
	})
}
