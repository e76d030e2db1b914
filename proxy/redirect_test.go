package proxy

import (
	"net/url"
	"strings"
	"testing"

	"github.com/outpost-dev/outpost/outpostapi"
)

func TestValidRedirect(t *testing.T) {
	p := provider(t, "app", outpostapi.ModeProxy, "https://app.example.com", "")
	d := provider(t, "dom", outpostapi.ModeForwardDomain, "https://auth.example.com", ".example.com")
	cases := []struct {
		p    outpostapi.Provider
		rd   string
		want string
	}{
		{p, "https://app.example.com/graph?g0.expr=up", "https://app.example.com/graph?g0.expr=up"},
		{p, "/graph?x=1", "https://app.example.com/graph?x=1"},
		{p, "https://APP.example.com/", "https://APP.example.com/"},
		{p, "https://evil.com/", ""},
		{p, "https://app.example.com.evil.com/", ""},
		{p, "https://app.example.com:8443/", ""},
		{p, "//evil.com/", ""},
		{p, "/%2Fevil.com/", ""},
		{p, "/\\evil.com", ""},
		{p, "https://app.example.com@evil.com/", ""},
		{p, "https://evil.com@app.example.com/", ""},
		{p, "javascript:alert(1)", ""},
		{p, "https:app.example.com", ""},
		{p, "ftp://app.example.com/", ""},
		{p, "/x\r\nSet-Cookie: a=b", ""},
		{p, "/x%0d%0aSet-Cookie:a=b", ""},
		{p, "/x\ty", ""},
		{p, "relative/path", ""},
		{p, "", ""},
		{d, "https://grafana.example.com/d/x", "https://grafana.example.com/d/x"},
		{d, "https://example.com/", "https://example.com/"},
		{d, "https://evilexample.com/", ""},
		{d, "https://example.com.evil.org/", ""},
	}
	for _, tc := range cases {
		if got := validRedirect(&tc.p, tc.rd); got != tc.want {
			t.Errorf("validRedirect(%s, %q) = %q, want %q", tc.p.Name, tc.rd, got, tc.want)
		}
	}
}

func FuzzValidRedirect(f *testing.F) {
	p := provider(f, "app", outpostapi.ModeProxy, "https://app.example.com", "")
	for _, s := range []string{"/x", "//evil", "https://app.example.com/", "/\\e", "https://a@b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rd string) {
		got := validRedirect(&p, rd)
		if got == "" {
			return
		}
		// Whatever passes must land on the external host, over http(s).
		u, err := url.Parse(got)
		if err != nil || !strings.EqualFold(u.Host, "app.example.com") {
			t.Fatalf("%q → %q leaves the host", rd, got)
		}
		if u.User != nil || (u.Scheme != "https" && u.Scheme != "http") {
			t.Fatalf("%q → %q", rd, got)
		}
	})
}
