package proxy

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestCanonicalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/": "/", "": "/", "/a/b": "/a/b", "/a/b/": "/a/b/", "/a/../b": "/b", "/a/./b": "/a/b",
		"//a": "/a", "/a//b/": "/a/b/", "/..": "/", "/a/..": "/", "/../../etc/passwd": "/etc/passwd", "a": "/a",
	} {
		t.Run(in, func(t *testing.T) {
			if got := canonicalPath(in); got != want {
				t.Errorf("canonicalPath(%q) = %q, want %q", in, got, want)
			}
		})
	}
}

func FuzzRedirectNonCanonical(f *testing.F) {
	for _, s := range []string{"/public/../admin", "/a%2f..%2fb", "//x", "/ok", "/%2e%2e/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		// Only what net/http would hand to a handler.
		if strings.ContainsAny(raw, " \r\n\t#?") || !strings.HasPrefix(raw, "/") {
			return
		}
		if _, err := url.ParseRequestURI(raw); err != nil {
			return
		}
		r := httptest.NewRequest("GET", "http://h"+raw, nil)
		w := httptest.NewRecorder()
		if !redirectNonCanonical(w, r) {
			// Served as is: then the path must have no dot segment a
			// server further on could resolve.
			for _, seg := range strings.Split(r.URL.Path, "/") {
				if seg == "." || seg == ".." {
					t.Fatalf("%q served with dot segment in %q", raw, r.URL.Path)
				}
			}
			if strings.Contains(r.URL.Path, "//") {
				t.Fatalf("%q served with // in %q", raw, r.URL.Path)
			}
			return
		}
		// The redirect target must itself be canonical and stay on the host.
		loc := w.Header().Get("Location")
		if !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") {
			t.Fatalf("%q redirected off-host to %q", raw, loc)
		}
		r2 := httptest.NewRequest("GET", "http://h"+loc, nil)
		if redirectNonCanonical(httptest.NewRecorder(), r2) {
			t.Fatalf("%q → %q is still not canonical", raw, loc)
		}
	})
}
