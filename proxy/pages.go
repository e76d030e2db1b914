package proxy

import (
	"embed"
	"encoding/json"
	"html/template"
	"net/http"
	"strings"
)

// Every page the outpost answers itself is this one template: the same
// look, a viewport for phones, the request id to quote, a way forward, and
// JSON instead for a client that asked for JSON.

//go:embed pages/page.html pages/page.css
var pageFiles embed.FS

var (
	pageTemplate = template.Must(template.ParseFS(pageFiles, "pages/page.html"))
	// pageCSS is inlined: a page must look right on a host where only the
	// forward-auth endpoint reaches the outpost.
	pageCSS = func() template.CSS {
		b, err := pageFiles.ReadFile("pages/page.css")
		if err != nil {
			panic(err)
		}
		return template.CSS(b)
	}()
)

// page is what one page says.
type page struct {
	Status  int
	Title   string
	Message string
	// Detail is small print under the message.
	Detail string
	// User is who is signed in, for a refusal that is about them.
	User string
	// Links are the ways forward, the first the one most people want.
	Links []pageLink
	// Action and Button are a form that posts to confirm.
	Action, Button string
	RequestID      string
	CSS            template.CSS
}

// pageLink is a way forward; ID names it for tests and scripts.
type pageLink struct {
	ID, Href, Text string
}

// requestID names a request in pages and logs, so a person can quote it.
// The server sets it on every request it handles.
func requestID(r *http.Request) string {
	if info := infoOf(r); info != nil && info.id != "" {
		return info.id
	}
	return newRequestID()
}

// wantsJSON is true for clients that asked for JSON rather than a page.
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json") && !strings.Contains(r.Header.Get("Accept"), "text/html")
}

// page answers with a page whose way forward is back to the application.
func (a *application) page(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	renderPage(w, r, page{Status: status, Title: title, Message: message, Links: a.backLinks(r, status)})
}

// errorPage logs the cause with the request id and shows the person a
// message that names no internals, with a way forward.
func (a *application) errorPage(w http.ResponseWriter, r *http.Request, status int, title, message string, cause error) {
	id := requestID(r)
	a.log.Warn(strings.ToLower(title), "provider", a.provider.Name, "status", status, "request_id", id, "path", r.URL.Path, "error", cause)
	renderPage(w, r, page{Status: status, Title: title, Message: message, Links: a.backLinks(r, status)})
}

// backLinks is the way forward from an error: the same request again when
// trying again can help, a new sign-in where the sign-in itself failed
// (a callback URL cannot be used twice), and the application.
func (a *application) backLinks(r *http.Request, status int) []pageLink {
	home := pageLink{ID: "back", Href: a.provider.ExternalURL.String(), Text: "Back to " + a.provider.ExternalURL.Host}
	signIn := pageLink{ID: "sign-in", Href: a.startURL(""), Text: "Sign in again"}
	switch {
	case status < 400:
		return []pageLink{signIn, home}
	case r.URL.Path == pathCallback || r.URL.Query().Has("X-authentik-auth-callback"):
		return []pageLink{home, signIn}
	case r.Method == http.MethodGet && status >= 500 || status == http.StatusTooManyRequests:
		return []pageLink{{ID: "retry", Href: selfURL(r), Text: "Try again"}, home}
	}
	return []pageLink{home}
}

// selfURL is the request's own path and query, to try it again: for
// forward auth the original URL, not the endpoint that asked.
func selfURL(r *http.Request) string {
	if info := infoOf(r); info != nil && info.original != nil {
		return info.original.url.String()
	}
	return r.URL.RequestURI()
}

// writePage is a page with no link of its own (no application to go back
// to): the title and message are the way forward.
func writePage(w http.ResponseWriter, r *http.Request, status int, title, message, detail string, links ...pageLink) {
	renderPage(w, r, page{Status: status, Title: title, Message: message, Detail: detail, Links: links})
}

// writeFormPage is a page with one button that posts to action: the
// person confirms what another site asked for.
func writeFormPage(w http.ResponseWriter, r *http.Request, status int, title, message, action, button string) {
	renderPage(w, r, page{Status: status, Title: title, Message: message, Action: action, Button: button})
}

// pageJSON is a page for a client that asked for JSON.
type pageJSON struct {
	Error     string     `json:"error"`
	Message   string     `json:"message"`
	RequestID string     `json:"request_id"`
	Status    int        `json:"status"`
	User      string     `json:"user,omitempty"`
	Links     []linkJSON `json:"links,omitempty"`
}

type linkJSON struct {
	Rel  string `json:"rel"`
	Href string `json:"href"`
}

func renderPage(w http.ResponseWriter, r *http.Request, p page) {
	p.RequestID = requestID(r)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if wantsJSON(r) {
		out := pageJSON{Error: p.Title, Message: p.Message, RequestID: p.RequestID, Status: p.Status, User: p.User}
		for _, l := range p.Links {
			out.Links = append(out.Links, linkJSON{Rel: l.ID, Href: l.Href})
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(p.Status)
		_ = json.NewEncoder(w).Encode(out)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// The page's own style only; nothing else may load or run.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(p.Status)
	p.CSS = pageCSS
	_ = pageTemplate.Execute(w, p)
}
