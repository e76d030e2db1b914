package proxy_test

import (
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/nodeissuer"
)

var (
	oidcProviderForm   = regexp.MustCompile(`<form autocomplete="off" action="([^"]*)" method="post">`)
	oidcProviderPrompt = regexp.MustCompile(`<input type="hidden" name="prompt" value="([a-z]+)"/>`)
)

// oidcProviderSignIn goes through oidc-provider's development login and
// consent pages from resp on, and returns where the browser lands.
func oidcProviderSignIn(t *testing.T, c *http.Client, resp *http.Response, login string) *http.Response {
	t.Helper()
	for range 3 {
		body := readBody(resp)
		form, prompt := oidcProviderForm.FindStringSubmatch(body), oidcProviderPrompt.FindStringSubmatch(body)
		if form == nil || prompt == nil {
			t.Fatalf("no oidc-provider form at %s (%d):\n%s", resp.Request.URL, resp.StatusCode, body)
		}
		action, err := resp.Request.URL.Parse(html.UnescapeString(form[1]))
		if err != nil {
			t.Fatal(err)
		}
		values := url.Values{"prompt": {prompt[1]}}
		if prompt[1] == "login" {
			values.Set("login", login)
			values.Set("password", "any")
		}
		resp, err = c.PostForm(action.String(), values)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(resp.Request.URL.Path, "/interaction/") {
			return resp
		}
	}
	t.Fatalf("still in oidc-provider's pages at %s", resp.Request.URL)
	return nil
}

// A standalone provider signs people in at npm's oidc-provider, a third
// party that registers exactly the plain redirect URI and compares it byte
// for byte; the groups claim comes from its userinfo, and the rule refuses
// someone outside ops.
func TestStandaloneSignInAtOIDCProvider(t *testing.T) {
	ln := listen(t)
	external := "http://" + ln.Addr().String()
	issuer := nodeissuer.Start(t, "app-client", "app-client-secret", external+"/outpost.goauthentik.io/callback")
	standaloneOutpost(t, slog.New(slog.DiscardHandler), ln, issuer, "", "    allowed_groups: [ops]\n")

	t.Run("ops-alice signs in", func(t *testing.T) {
		c := browser(t)
		resp := getPage(t, c, external+"/reports?q=1")
		if !strings.HasPrefix(resp.Request.URL.String(), issuer+"/interaction/") {
			t.Fatalf("not at oidc-provider's login: %s", resp.Request.URL)
		}
		resp = oidcProviderSignIn(t, c, resp, "ops-alice")
		if body := readBody(resp); resp.StatusCode != 200 || body != "hello ops-alice" || resp.Request.URL.String() != external+"/reports?q=1" {
			t.Fatalf("after sign-in: %d at %s: %q", resp.StatusCode, resp.Request.URL, body)
		}
	})
	t.Run("bob is refused by the rule", func(t *testing.T) {
		c := browser(t)
		resp := oidcProviderSignIn(t, c, getPage(t, c, external+"/"), "bob")
		if body := readBody(resp); resp.StatusCode != http.StatusForbidden || strings.Contains(body, "hello") {
			t.Fatalf("bob: %d at %s: %q", resp.StatusCode, resp.Request.URL, body)
		}
	})
}

// With 15-second tokens and a refresh token, as Dex issues them, a person
// idle for longer than the token is served on their next request, the
// session renewed at the issuer, not sent to sign in again (issue 22,
// item 10).
func TestSessionOutlivesAShortTokenAtOIDCProvider(t *testing.T) {
	ln := listen(t)
	external := "http://" + ln.Addr().String()
	issuer := nodeissuer.StartWithTokenTTL(t, "app-client", "app-client-secret", external+"/outpost.goauthentik.io/callback", 15*time.Second)
	standaloneOutpost(t, slog.New(slog.DiscardHandler), ln, issuer, "", "")
	c := browser(t)
	resp := oidcProviderSignIn(t, c, getPage(t, c, external+"/"), "ops-alice")
	if body := readBody(resp); resp.StatusCode != 200 || body != "hello ops-alice" {
		t.Fatalf("after sign-in: %d at %s: %q", resp.StatusCode, resp.Request.URL, body)
	}
	time.Sleep(17 * time.Second)
	// No redirects followed: a sign-in again would show as a 302.
	noFollow := &http.Client{Jar: c.Jar, Transport: c.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(external + "/after-lunch")
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(resp); resp.StatusCode != 200 || body != "hello ops-alice" {
		t.Errorf("17 s later, past the 15 s token: %d %q (Location %q), want the app without signing in again", resp.StatusCode, body, resp.Header.Get("Location"))
	}
}
