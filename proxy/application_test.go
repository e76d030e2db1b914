package proxy

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/outpostapi"
	"github.com/outpost-dev/outpost/session"
)

// markerQuery skips parsing queries that cannot hold a marker; it must see
// every marker the full parse sees, however it is escaped.
func FuzzMarkerQuery(f *testing.F) {
	for _, s := range []string{"", "a=b", "X-authentik-logout=true", "X%2Dauthentik-logout=TRUE", "%58-authentik-auth-callback=true&code=x",
		"q=up;X-authentik-logout=true", "X-authentik-logout=true&X-authentik-logout=false", "%zz&X-authentik-auth-callback=true"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		full := (&url.URL{RawQuery: raw}).Query()
		got := markerQuery(raw)
		for _, k := range []string{"X-authentik-auth-callback", "X-authentik-logout"} {
			if got.Get(k) != full.Get(k) {
				t.Fatalf("%q: %s = %q, full parse %q", raw, k, got.Get(k), full.Get(k))
			}
		}
	})
}

// removeOwnCookies: no cookie Go's parser would take for the outpost's
// (with the __Host- prefix or without) reaches the app, and the app's
// cookies pass in order.
func FuzzRemoveOwnCookies(f *testing.F) {
	p := provider(f, "app", outpostapi.ModeProxy, "https://app.example.com", "")
	sc, _ := session.NewCodec(cookieOptions(&p, "", time.Hour))
	lc, _ := session.NewCodec(cookieOptions(&p, sc.PlainName()+"_login", time.Hour))
	a := &application{sessionCookies: sc, loginCookies: lc}
	own, plain := sc.Name(), sc.PlainName()
	isOwn := func(name string) bool {
		return name == own || name == own+"_login" || name == plain || name == plain+"_login"
	}
	for _, s := range []string{"", "a=b", own + "=x", "a=1; " + own + " =x ;b=2", own + "_login=y;;c", "\t" + own + "\t=v", own, plain + "=x; " + plain + "_login=y"} {
		f.Add(s, "")
		f.Add(s, "z="+own)
	}
	f.Fuzz(func(t *testing.T, line1, line2 string) {
		r := &http.Request{Header: http.Header{"Cookie": {line1}}}
		if line2 != "" {
			r.Header.Add("Cookie", line2)
		}
		var want []string
		for _, ck := range (&http.Request{Header: r.Header.Clone()}).Cookies() {
			if isOwn(ck.Name) {
				continue
			}
			want = append(want, ck.Name)
		}
		a.removeOwnCookies(r)
		var got []string
		for _, ck := range r.Cookies() {
			if isOwn(ck.Name) {
				t.Fatalf("%q %q: the outpost's cookie %q passed", line1, line2, ck.Name)
			}
			got = append(got, ck.Name)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("%q %q: app cookies %v, want %v", line1, line2, got, want)
		}
	})
}
