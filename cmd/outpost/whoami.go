package main

import (
	"context"
	"flag"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/outpost-dev/outpost/proxy"
)

// whoamiPage shows an upstream's view of a request: the demo's way of
// showing which identity headers the outpost passed on.
var whoamiPage = template.Must(template.New("whoami").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>whoami</title>
<style>body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:56rem;padding:0 1rem;color:#1d2433}
h1{font-size:1.4rem}table{border-collapse:collapse;width:100%}td{border-top:1px solid #dde;padding:.3rem .5rem;vertical-align:top;font-family:ui-monospace,monospace;font-size:13px;word-break:break-all}
tr.id td{background:#eef6ee}td:first-child{white-space:nowrap;width:1%}</style></head>
<body><h1>whoami</h1>
{{if .User}}<p>Signed in as <strong>{{.User}}</strong>.</p>{{else}}<p>No identity headers: this request was not authenticated by the outpost.</p>{{end}}
<p>{{.Method}} {{.URI}} from {{.Remote}}</p>
<table>{{range .Headers}}<tr{{if .Identity}} class="id"{{end}}><td>{{.Name}}</td><td>{{.Value}}</td></tr>{{end}}</table>
</body></html>
`))

type whoamiHeader struct {
	Name, Value string
	Identity    bool
}

func whoamiHandler(w http.ResponseWriter, r *http.Request) {
	var hs []whoamiHeader
	for name, values := range r.Header {
		for _, v := range values {
			hs = append(hs, whoamiHeader{name, v, strings.HasPrefix(strings.ToLower(name), "x-authentik-")})
		}
	}
	hs = append(hs, whoamiHeader{Name: "Host", Value: r.Host})
	sort.Slice(hs, func(i, j int) bool { return hs[i].Name < hs[j].Name })
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = whoamiPage.Execute(w, map[string]any{
			"User": r.Header.Get("X-Authentik-Username"), "Method": r.Method,
			"URI": r.RequestURI, "Remote": r.RemoteAddr, "Headers": hs,
		})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "%s %s %s\n", r.Method, r.RequestURI, r.Proto)
	for _, h := range hs {
		fmt.Fprintf(w, "%s: %s\n", h.Name, h.Value)
	}
}

func whoamiCommand(args []string) error {
	fs := flag.NewFlagSet("whoami", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:9001", "address to listen on")
	if err := parseFlags(fs, args, whoamiHelp, 0); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	return proxy.Serve(ctx, proxy.NewHTTPServer(http.HandlerFunc(whoamiHandler)), ln, 5*time.Second)
}
