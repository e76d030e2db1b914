package main

import (
	"encoding/json"
	"flag"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// upstreamCommand is the app behind every proxy: a short 200 naming the
// identity it was given ("ok alice"), a websocket echo on any path asked
// with Upgrade, the request's headers as JSON at echoHeadersPath (how the
// harness learns what a proxy sends the app), and at nginx's auth endpoint
// path the always-200 auth endpoint of the nginx floors: without headers,
// or with the identity headers in the --identity file (JSON object of
// header → values).
func upstreamCommand(args []string) {
	fs := flag.NewFlagSet("upstream", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	identityFile := fs.String("identity", "", "headers of the auth endpoint's answer (JSON)")
	_ = fs.Parse(args)
	identity := readHeaders(*identityFile)
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == nginxAuthPath {
			for k, v := range identity {
				w.Header()[k] = v
			}
			w.WriteHeader(http.StatusOK)
			return
		}
		if r.URL.Path == echoHeadersPath {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(r.Header)
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

// echoHeadersPath is where the app answers the headers it was sent.
const echoHeadersPath = "/.bench/headers"

// readHeaders reads a JSON object of header → values ("": none).
func readHeaders(file string) http.Header {
	h := http.Header{}
	if file == "" {
		return h
	}
	b, err := os.ReadFile(file)
	if err == nil {
		err = json.Unmarshal(b, &h)
	}
	if err != nil {
		fatalf("%s: %v", file, err)
	}
	return h
}

// bareCommand is a floor: httputil.ReverseProxy in front of the upstream,
// with the same connection pool settings as the outpost's transport, and
// pooled 32 KB copy buffers as any production proxy has (--unpooled: the
// floor before issue 25, which allocated one per request). With
// --identity it is the identity ceiling: the same proxy setting a fixed
// set of headers on every upstream request (the ones the outpost adds,
// captured from what the app received) and removing those the outpost
// removes (--drop), with no other work.
func bareCommand(args []string) {
	fs := flag.NewFlagSet("bare", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	upstream := fs.String("upstream", "", "upstream URL")
	unpooled := fs.Bool("unpooled", false, "a new copy buffer per request (the old, handicapped floor)")
	identityFile := fs.String("identity", "", "headers to set on every upstream request (JSON object of header → values)")
	drop := fs.String("drop", "", "comma-separated headers to remove from every upstream request")
	_ = fs.Parse(args)
	target, err := url.Parse(*upstream)
	if err != nil || target.Host == "" {
		fatalf("bare: bad --upstream %q", *upstream)
	}
	identity := readHeaders(*identityFile)
	var dropped []string
	if *drop != "" {
		dropped = strings.Split(*drop, ",")
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
			for _, k := range dropped {
				delete(pr.Out.Header, k)
			}
			if len(identity) > 0 {
				// One map of the right size, as a proxy written for
				// this would (growing the clone would copy it twice);
				// the values are shared, never written to.
				h := make(http.Header, len(pr.Out.Header)+len(identity))
				maps.Copy(h, pr.Out.Header)
				maps.Copy(h, identity)
				pr.Out.Header = h
			}
		},
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	if !*unpooled {
		rp.BufferPool = &copyBuffers{Pool: sync.Pool{New: func() any { return new([copyBufferSize]byte) }}}
	}
	serve(*listen, rp)
}

const copyBufferSize = 32 << 10

// copyBuffers is a floor's httputil.BufferPool: 32 KB arrays, reused.
type copyBuffers struct{ sync.Pool }

func (p *copyBuffers) Get() []byte { return p.Pool.Get().(*[copyBufferSize]byte)[:] }

func (p *copyBuffers) Put(b []byte) {
	if cap(b) == copyBufferSize {
		p.Pool.Put((*[copyBufferSize]byte)(b[:copyBufferSize]))
	}
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
