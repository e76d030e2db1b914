package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// forwardAuth compares nginx protecting the app with the outpost against the
// same nginx whose auth endpoint is a Go handler, in a process of its own,
// that always answers 200: first a bare 200 (the floor), then a 200
// carrying the identity headers the outpost answers with (the identity
// ceiling). The ceiling does all the work of passing an identity through
// nginx to the app, so what is left of the difference is the outpost's
// own; against the floor, it is the best any auth endpoint that answers
// these headers can do. The three run in turn in the same rounds, so that
// they share the machine's moods. The auth endpoints answer without
// proxying anything (nginx does), so they have no copy buffers to pool.
func (w *world) forwardAuth() {
	site := "http://" + w.ngxOutAddr + "/"
	cookie := signIn("http://"+w.ngxOutAddr, benchUser, benchPassword)
	h := []string{"Cookie: " + cookie, "Accept: text/html"}
	expect(site, h, 200, "ok bench")
	bareURL, bare := w.startAuthFloor("nginx200", nil)
	expect(bareURL, h, 200, "ok \n")
	identity := w.outpostAnswer(cookie)
	idURL, id := w.startAuthFloor("nginx200+id", identity)
	expect(idURL, h, 200, "ok bench")
	defer func() {
		for _, p := range []*proc{bare[0], bare[1], id[0], id[1]} { // not the app
			p.stop()
		}
	}()
	// CPU per request counts every server a request passes: the auth
	// endpoint, nginx and the app (wrk is left out).
	parts := []string{"auth", "nginx", "app"}
	targets := []target{
		w.httpTarget("nginx200 (auth endpoint: a bare 200)", "", bareURL, h, bare, parts),
		w.httpTarget("nginx200+id (a 200 with the identity)", "", idURL, h, id, parts),
		w.httpTarget("outpost, log to a file", logToFile, site, h, procs{w.outpost, w.nginx, w.upstream}, parts)}
	if w.baseline != nil {
		// The same nginx configuration asking the baseline outpost, for
		// the same site (its Host), with a session signed in through it.
		// The shipped snippets name the site by $host:$server_port, so
		// this nginx listens on the same port, on another loopback address.
		_, port, _ := net.SplitHostPort(w.ngxOutAddr)
		addr := net.JoinHostPort("127.0.0.3", port)
		ngx := startNginx(w, "nginx-baseline", addr, w.baseAddr)
		defer ngx.stop()
		hb := []string{"Cookie: " + signInVia("http://"+w.ngxOutAddr, addr, benchUser, benchPassword), "Accept: text/html", "Host: " + w.ngxOutAddr}
		expect("http://"+addr+"/", hb, 200, "ok bench")
		targets = append(targets, w.httpTarget(w.baselineLabel(), w.baselineAccess(),
			"http://"+addr+"/", hb, procs{w.baseline, ngx, w.upstream}, parts))
	}
	m := w.measure(targets...)
	var baseline *series
	if w.baseline != nil {
		baseline, m = m[3], m[:3]
	}
	w.add(report{name: "forward auth (nginx)", floor: m[0], ceiling: m[1], outposts: m[2:], baseline: baseline,
		identity: fmt.Sprintf("nginx200+id, the same nginx whose auth endpoint answers 200 with the %d header lines (%d bytes) the outpost answers with",
			headerLines(identity), headerBytes(identity)),
		note: "cpu/r: auth endpoint + nginx + app; peak RSS: the auth endpoint's"})
}

// startAuthFloor starts a Go endpoint answering 200 with identity's headers
// and an nginx in front of the app that asks it, and returns that nginx's
// URL and the processes a request passes.
func (w *world) startAuthFloor(name string, identity http.Header) (string, procs) {
	args := []string{"upstream", "--listen", freeAddr()}
	if identity != nil {
		file := filepath.Join(w.cfg.dir, name+".json")
		b, _ := json.Marshal(identity)
		if err := os.WriteFile(file, b, 0o600); err != nil {
			fatalf("%v", err)
		}
		args = append(args, "--identity", file)
	}
	auth := start(w.cfg.dir, name+"-auth", nil, w.cfg.self, args...)
	waitTCP(auth, args[2], 10*time.Second)
	addr := freeAddr()
	ngx := startNginx(w, name+"-nginx", addr, args[2])
	return "http://" + addr + "/", procs{auth, ngx, w.upstream}
}

// outpostAnswer is the headers of the outpost's 200 to nginx's auth request
// for the signed-in person, less those that differ per response.
func (w *world) outpostAnswer(cookie string) http.Header {
	req, _ := http.NewRequest("GET", "http://"+w.outAddr+nginxAuthPath, nil)
	req.Host = w.ngxOutAddr
	req.Header.Set("X-Original-URL", "http://"+w.ngxOutAddr+"/")
	req.Header.Set("Cookie", cookie)
	// From nginx's address: the outpost trusts only it.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext,
	}}
	resp, err := c.Do(req)
	if err != nil {
		fatalf("asking the outpost: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Authentik-Username") != benchUser {
		fatalf("asking the outpost: %d %v", resp.StatusCode, resp.Header)
	}
	m := resp.Header.Clone()
	for _, k := range []string{"Date", "Content-Length", "X-Request-Id"} {
		delete(m, k)
	}
	if len(m) < 12 {
		fatalf("the outpost answered %d headers: %v", len(m), fmt.Sprint(m))
	}
	return m
}
