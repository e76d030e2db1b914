package proxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/outpostapi"
	"github.com/outpost-dev/outpost/session"
)

// Codecs outlive a refresh that keeps their options, and never one that
// changes the cookie secret: a rotated secret refuses the old cookies.
func TestCookieCodecsAcrossRefreshes(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok "+r.Header.Get("X-Authentik-Username"))
	}))
	defer up.Close()
	store := session.NewMemoryStore(session.MemoryOptions{})
	defer store.Close()
	s := New(Options{Log: discard(), Store: store})
	snapWith := func(secret string) *outpostapi.Snapshot {
		p := provider(t, "app", outpostapi.ModeProxy, "https://app.example.com", "")
		p.InternalURL, _ = url.Parse(up.URL)
		p.CookieSecret = secret
		return &outpostapi.Snapshot{Providers: []outpostapi.Provider{p}}
	}
	app := func() *application { return s.current.Load().router.route("app.example.com") }
	get := func(ck *http.Cookie) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "https://app.example.com/", nil)
		r.Header.Set("Accept", "text/html")
		r.AddCookie(ck)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w
	}

	s.Update(snapWith("first-secret-0123456789"))
	sess := benchSession(app().provider)
	if err := store.Save(context.Background(), sess); err != nil {
		t.Fatal(err)
	}
	ck, err := app().sessionCookies.Cookie(sess.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if w := get(ck); w.Code != 200 || w.Body.String() != "ok alice" {
		t.Fatalf("signed in: %d %q", w.Code, w.Body.String())
	}

	before := app().sessionCookies
	s.Update(snapWith("first-secret-0123456789"))
	if app().sessionCookies != before {
		t.Error("an unchanged provider's codec was built again")
	}
	if w := get(ck); w.Code != 200 {
		t.Fatalf("after an unchanged refresh: %d", w.Code)
	}

	s.Update(snapWith("rotated-secret-9876543210"))
	if app().sessionCookies == before {
		t.Error("the codec of the old secret serves the new one")
	}
	if w := get(ck); w.Code != http.StatusFound {
		t.Fatalf("old cookie after the secret was rotated: %d %q", w.Code, w.Body.String())
	}
}
