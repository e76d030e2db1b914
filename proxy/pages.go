package proxy

import (
	"embed"
	"encoding/json"
	"html/template"
	"net/http"
	"strings"
)

//go:embed pages/*.html
var pageFiles embed.FS

var pageTemplate = template.Must(template.ParseFS(pageFiles, "pages/page.html"))

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

// page answers with a small HTML page, or JSON for clients that ask for it.
func (a *application) page(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	writePage(w, r, status, title, message, "")
}

// errorPage logs the cause with the request id and shows the person a
// message that names no internals.
func (a *application) errorPage(w http.ResponseWriter, r *http.Request, status int, title, message string, cause error) {
	id := requestID(r)
	a.log.Warn(strings.ToLower(title), "provider", a.provider.Name, "status", status, "request_id", id, "path", r.URL.Path, "error", cause)
	writePage(w, r, status, title, message, "")
}

func writePage(w http.ResponseWriter, r *http.Request, status int, title, message, detail string) {
	renderPage(w, r, status, map[string]string{"Title": title, "Message": message, "Detail": detail})
}

// writeFormPage is a page with one button that posts to action: the
// person confirms what another site asked for.
func writeFormPage(w http.ResponseWriter, r *http.Request, status int, title, message, action, button string) {
	renderPage(w, r, status, map[string]string{"Title": title, "Message": message, "Action": action, "Button": button})
}

func renderPage(w http.ResponseWriter, r *http.Request, status int, data map[string]string) {
	id := requestID(r)
	title, message := data["Title"], data["Message"]
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": title, "message": message, "request_id": id})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	data["RequestID"] = id
	_ = pageTemplate.Execute(w, data)
}
