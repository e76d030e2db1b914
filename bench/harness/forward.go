package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// forwardAuth compares nginx protecting the app with the outpost against the
// same nginx whose auth endpoint is a Go handler, in a process of its own,
// that always answers 200: first a bare 200 (the floor of the target), then
// a 200 carrying the identity headers the outpost answers with. The second
// floor does all the work of passing an identity through nginx to the app,
// so what is left of the difference is the outpost's own; against the
// first, it is the ceiling of any auth endpoint that answers these headers.
// The three run in turn in the same rounds, so that they share the
// machine's moods.
func (w *world) forwardAuth() {
	site := "http://" + w.ngxOutAddr + "/"
	cookie := signIn("http://"+w.ngxOutAddr, benchUser, benchPassword)
	h := []string{"Cookie: " + cookie, "Accept: text/html"}
	expect(site, h, 200, "ok bench")
	bareURL, bare := w.startAuthFloor("nginx200", nil)
	expect(bareURL, h, 200, "ok \n")
	idURL, id := w.startAuthFloor("nginx200+id", w.outpostAnswer(cookie))
	expect(idURL, h, 200, "ok bench")
	defer func() {
		for _, p := range []*proc{bare[0], bare[1], id[0], id[1]} { // not the app
			p.stop()
		}
	}()
	// CPU per request counts every server a request passes: the auth
	// endpoint, nginx and the app (wrk is left out).
	m := w.measureHTTP(h, target{bareURL, bare}, target{idURL, id}, target{site, procs{w.outpost, w.nginx, w.upstream}})
	const parts = "; cpu/r is auth endpoint + nginx + app: "
	for _, r := range []row{
		{name: "forward auth (nginx)", floorName: "nginx200", floor: m[0], outpost: m[2],
			note: "floor: the same nginx, auth_request to a Go endpoint answering 200"},
		{name: "forward auth vs static identity", floorName: "nginx200+id", floor: m[1], outpost: m[2],
			note: "floor's Go endpoint answers the outpost's identity headers"},
		{name: "identity ceiling (not outpost)", floorName: "nginx200", floor: m[0], outpost: m[1],
			note: "right side is nginx200+id: the best any auth endpoint answering these headers can do"},
	} {
		r.note += parts + cpuParts(r) + "; peak RSS: auth endpoints"
		printRow(r)
	}
}

// startAuthFloor starts a Go endpoint answering 200 with identity's headers
// and an nginx in front of the app that asks it, and returns that nginx's
// URL and the processes a request passes.
func (w *world) startAuthFloor(name string, identity map[string]string) (string, procs) {
	args := []string{"upstream", "--listen", freeAddr()}
	if identity != nil {
		file := filepath.Join(w.cfg.dir, name+".json")
		b, _ := json.Marshal(identity)
		if err := os.WriteFile(file, b, 0o600); err != nil {
			fatalf("%v", err)
		}
		args = append(args, "--identity", file)
	}
	auth := start(w.cfg.dir, name+"-auth", nil, false, w.cfg.self, args...)
	waitTCP(auth, args[2], 10*time.Second)
	addr := freeAddr()
	ngx := startNginx(w, name+"-nginx", addr, args[2])
	return "http://" + addr + "/", procs{auth, ngx, w.upstream}
}

// cpuParts is each process's CPU per request, floor | outpost side.
func cpuParts(r row) string {
	names := []string{"auth", "nginx", "app"}
	part := func(ds []time.Duration) string {
		var s []string
		for i, d := range ds {
			s = append(s, names[i]+" "+fmtDur(d))
		}
		return strings.Join(s, " + ")
	}
	return part(r.floor.parts) + " | " + part(r.outpost.parts)
}

// outpostAnswer is the headers of the outpost's 200 to nginx's auth request
// for the signed-in person, less those that differ per response.
func (w *world) outpostAnswer(cookie string) map[string]string {
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
	m := map[string]string{}
	for k, v := range resp.Header {
		switch k {
		case "Date", "Content-Length", "X-Request-Id":
		default:
			m[k] = strings.Join(v, ", ")
		}
	}
	if len(m) < 12 {
		fatalf("the outpost answered %d headers: %v", len(m), fmt.Sprint(m))
	}
	return m
}
