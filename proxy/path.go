package proxy

import (
	"net/http"
	"net/url"
	"path"
	"strings"
)

// canonicalPath is p with dot segments and doubled slashes resolved; a
// trailing slash is kept.
func canonicalPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// redirectNonCanonical answers a request whose path is not canonical with a
// 301 to the canonical one (query kept), as the reference's router does, and
// reports whether it did. The decision and the upstream then always see the
// same path: /public/../admin can never pass a skip rule for /public/ and
// reach an app that resolves it to /admin. Encoded dot segments and slashes
// count too, since r.URL.Path is already decoded.
func redirectNonCanonical(w http.ResponseWriter, r *http.Request) bool {
	c := canonicalPath(r.URL.Path)
	if c == r.URL.Path {
		return false
	}
	target := (&url.URL{Path: c}).EscapedPath()
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusMovedPermanently)
	return true
}

// ambiguousPath reports a path that servers read differently: an encoded
// slash, backslash or "#", a NUL, or a raw backslash. The outpost could see
// one path and the app another, so such requests are refused.
func ambiguousPath(r *http.Request) bool { return ambiguousURLPath(r.URL) }

// ambiguousURLPath is ambiguousPath for a URL: the request's own, or in
// forward auth the original one.
func ambiguousURLPath(u *url.URL) bool {
	raw := strings.ToLower(u.EscapedPath())
	return strings.Contains(raw, "%2f") || strings.Contains(raw, "%5c") || strings.Contains(raw, "%23") ||
		strings.Contains(raw, "%00") || strings.ContainsAny(u.Path, "\\\x00")
}
