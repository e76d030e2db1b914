package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// server is a process of the harness's own listening at addr.
type server struct {
	proc *proc
	addr string
}

func (s server) stop() { s.proc.stop() }

// startBare starts a bare proxy in front of the app (see bareCommand).
func (w *world) startBare(name string, args ...string) server {
	addr := freeAddr()
	p := start(w.cfg.dir, name, nil, w.cfg.self, append([]string{"bare", "--listen", addr, "--upstream", "http://" + w.upAddr}, args...)...)
	waitTCP(p, addr, 10*time.Second)
	return server{p, addr}
}

// startCeiling learns what the outpost changes in the app's request for a
// client sending headers (the app echoes what it received through the
// floor, asked for the outpost's host, and through the outpost), and
// starts the identity ceiling: a bare proxy that makes the same changes
// with fixed values and does nothing else. It returns the ceiling and a
// line saying what it sets; quietHeaders are the log-off outpost's
// client's, whose changes are checked to be of the same size.
func (w *world) startCeiling(name string, headers, quietHeaders []string) (server, string) {
	viaFloor := echoed("http://"+w.bareAddr+echoHeadersPath, append(slices.Clip(headers), "Host: "+w.outAddr))
	add, changed, drop := headerChanges(viaFloor, echoed("http://"+w.outAddr+echoHeadersPath, headers))
	addQuiet, changedQuiet, _ := headerChanges(viaFloor, echoed("http://"+w.quietAddr+echoHeadersPath, quietHeaders))
	if add.Get("X-Authentik-Username") != benchUser {
		fatalf("%s: the app was not sent the identity through the outpost: %v", name, add)
	}
	set := add.Clone()
	maps.Copy(set, changed)
	file := filepath.Join(w.cfg.dir, fileName(name)+"-identity.json")
	b, _ := json.Marshal(set)
	if err := os.WriteFile(file, b, 0o600); err != nil {
		fatalf("%v", err)
	}
	args := []string{"--identity", file}
	if len(drop) > 0 {
		args = append(args, "--drop", strings.Join(drop, ","))
	}
	s := w.startBare(fileName(name)+"-ceiling", args...)
	desc := fmt.Sprintf("a bare proxy adding the %d header lines (%d bytes) the outpost added to the app's request (%s)",
		headerLines(add), headerBytes(add), strings.Join(slices.Sorted(maps.Keys(add)), ", "))
	if len(changed) > 0 {
		desc += fmt.Sprintf(", and setting %s as the outpost passed it on (%d bytes, %d through the floor)",
			strings.Join(slices.Sorted(maps.Keys(changed)), ", "), headerBytes(changed), headerBytes(pick(viaFloor, changed)))
	}
	if len(drop) > 0 {
		desc += "; removing, as the outpost did: " + strings.Join(drop, ", ")
	}
	if q, p := headerBytes(addQuiet)+headerBytes(changedQuiet), headerBytes(set); q != p {
		desc += fmt.Sprintf(" (the log-off outpost's changes: %d bytes, against %d)", q, p)
	}
	return s, desc
}

// pick is h's values of the names in like.
func pick(h, like http.Header) http.Header {
	out := http.Header{}
	for k := range like {
		if v, ok := h[k]; ok {
			out[k] = v
		}
	}
	return out
}

// echoed is the headers the app received for a GET of u (at
// echoHeadersPath) with headers.
func echoed(u string, headers []string) http.Header {
	status, body := fetch(u, headers)
	var h http.Header
	if err := json.Unmarshal(body, &h); status != http.StatusOK || err != nil {
		fatalf("GET %s: %d %.300s", u, status, body)
	}
	return h
}

// headerChanges is what got has that base has not, what both have with
// other values (got's), and the names of those base has that got has not.
func headerChanges(base, got http.Header) (add, changed http.Header, drop []string) {
	add, changed = http.Header{}, http.Header{}
	for k, v := range got {
		switch bv, ok := base[k]; {
		case !ok:
			add[k] = v
		case !slices.Equal(bv, v):
			changed[k] = v
		}
	}
	for k := range base {
		if _, ok := got[k]; !ok {
			drop = append(drop, k)
		}
	}
	slices.Sort(drop)
	return add, changed, drop
}

// headerLines and headerBytes are h's size on the wire in HTTP/1.1.
func headerLines(h http.Header) (n int) {
	for _, v := range h {
		n += len(v)
	}
	return n
}

func headerBytes(h http.Header) (n int) {
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(": ") + len(v) + len("\r\n")
		}
	}
	return n
}

// fileName is name with only letters, digits and dashes.
func fileName(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, name)
}
