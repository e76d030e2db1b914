package main

import (
	"encoding/json"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"time"

	"github.com/gorilla/websocket"
)

// upstreamCommand is the app behind every proxy: a short 200 naming the
// identity it was given ("ok alice"), a websocket echo on any path asked
// with Upgrade, and at nginx's auth endpoint path the always-200 auth
// endpoint of the nginx floors: without headers, or with the identity
// headers in the --identity file (JSON object of header → value).
func upstreamCommand(args []string) {
	fs := flag.NewFlagSet("upstream", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	identityFile := fs.String("identity", "", "headers of the auth endpoint's answer (JSON)")
	_ = fs.Parse(args)
	identity := http.Header{}
	if *identityFile != "" {
		var m map[string]string
		b, err := os.ReadFile(*identityFile)
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		if err != nil {
			fatalf("upstream --identity: %v", err)
		}
		for k, v := range m {
			identity.Set(k, v)
		}
	}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == nginxAuthPath {
			for k, v := range identity {
				w.Header()[k] = v
			}
			w.WriteHeader(http.StatusOK)
			return
		}
		if websocket.IsWebSocketUpgrade(r) {
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			for {
				mt, msg, err := c.ReadMessage()
				if err != nil {
					return
				}
				if err := c.WriteMessage(mt, msg); err != nil {
					return
				}
			}
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok "+r.Header.Get("X-Authentik-Username")+"\n")
	})
	serve(*listen, h)
}

// bareCommand is the floor: httputil.ReverseProxy in front of the upstream,
// with the same connection pool settings as the outpost's transport.
func bareCommand(args []string) {
	fs := flag.NewFlagSet("bare", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	upstream := fs.String("upstream", "", "upstream URL")
	_ = fs.Parse(args)
	target, err := url.Parse(*upstream)
	if err != nil || target.Host == "" {
		fatalf("bare: bad --upstream %q", *upstream)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	serve(*listen, rp)
}

func serve(addr string, h http.Handler) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fatalf("listen %s: %v", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.Serve(ln); err != nil {
		os.Exit(1)
	}
}
