package devcore

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"
)

// authorizeAgain asks for a code in a browser already signed in: the code
// when the devcore grants one at once, "" when it shows the login form.
func (c *idpCore) authorizeAgain(b *http.Client, a authRequest) string {
	c.t.Helper()
	resp, err := b.Get(c.authorizeURL(a))
	if err != nil {
		c.t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK {
		readBody(c.t, resp)
		return ""
	}
	return codeFrom(c.t, resp, a.redirectURI, a.state)
}

// max_age and prompt=login (OIDC Core §3.1.2.1): a core session signed in
// longer ago than max_age, or any with prompt=login, shows the form; the
// new sign-in's auth_time is fresh, and it re-authenticates the same core
// session (same sid, no SESSION_END).
func TestMaxAgeAndPromptLogin(t *testing.T) {
	c := newIDPCore(t, nil)
	b := c.browser()
	// The first sign-in happens 10 minutes ago (tokens are checked against
	// the real clock, so the devcore's goes back, then forward again).
	c.advance(-10 * time.Minute)
	first := appRequest()
	tok := c.mustExchange(first, c.login(b, first, "alice", "alice-pw"), appSecret)
	issuer := c.ts.URL + "/application/o/app/"
	signedIn := verifyJWT(t, str(tok, "id_token"), appSecret, issuer, "app-client")
	c.advance(10 * time.Minute)

	for _, tc := range []struct {
		name  string
		extra url.Values
		form  bool // the login form is shown
	}{
		{"no max_age", nil, false},
		{"max_age longer than the session's age", url.Values{"max_age": {"3600"}}, false},
		{"max_age shorter", url.Values{"max_age": {"300"}}, true},
		{"max_age 0", url.Values{"max_age": {"0"}}, true},
		{"prompt=login", url.Values{"prompt": {"login"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := appRequest()
			a.extra = tc.extra
			code := c.authorizeAgain(b, a)
			if tc.form != (code == "") {
				t.Fatalf("form shown: %v, want %v", code == "", tc.form)
			}
			if code != "" {
				id := verifyJWT(t, str(c.mustExchange(a, code, appSecret), "id_token"), appSecret, issuer, "app-client")
				if num(id, "auth_time") != num(signedIn, "auth_time") {
					t.Errorf("auth_time moved without a sign-in: %d, was %d", num(id, "auth_time"), num(signedIn, "auth_time"))
				}
			}
		})
	}

	t.Run("signing in again makes auth_time fresh in the same core session", func(t *testing.T) {
		a := appRequest()
		a.extra = url.Values{"max_age": {"300"}}
		code := c.login(b, a, "alice", "alice-pw")
		id := verifyJWT(t, str(c.mustExchange(a, code, appSecret), "id_token"), appSecret, issuer, "app-client")
		if got, want := num(id, "auth_time"), num(signedIn, "auth_time")+600; got < want-1 {
			t.Errorf("auth_time %d, want the new sign-in's (about %d)", got, want)
		}
		if id["sid"] != signedIn["sid"] {
			t.Errorf("sid changed: %v, was %v", id["sid"], signedIn["sid"])
		}
		if ended := c.endedSIDs(); len(ended) != 0 {
			t.Errorf("re-authentication ended core sessions: %v", ended)
		}
	})
	t.Run("a malformed max_age is refused", func(t *testing.T) {
		a := appRequest()
		a.extra = url.Values{"max_age": {"ten"}}
		resp, err := b.Get(c.authorizeURL(a))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || loc.Query().Get("error") != "invalid_request" {
			t.Errorf("max_age=ten: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

// acr_values: a user whose acr list holds an asked value gets it as acr;
// anyone else gets the default, and the client decides what it accepts.
func TestACRValues(t *testing.T) {
	c := newIDPCore(t, func(cfg *Config) {
		for i := range cfg.Users {
			if cfg.Users[i].Username == "alice" {
				cfg.Users[i].ACR = []string{"mfa"}
			}
		}
	})
	issuer := c.ts.URL + "/application/o/app/"
	for _, tc := range []struct {
		name, user, acrValues, want string
	}{
		{"alice asked for mfa", "alice", "mfa", "mfa"},
		{"alice, mfa second", "alice", "hwk mfa", "mfa"},
		{"alice asked nothing", "alice", "", acrDefault},
		{"bob asked for mfa", "bob", "mfa", acrDefault},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := appRequest()
			if tc.acrValues != "" {
				a.extra = url.Values{"acr_values": {tc.acrValues}}
			}
			b := c.browser()
			action, fields := c.getForm(b, c.authorizeURL(a))
			if tc.acrValues != "" && fields.Get("acr_values") != tc.acrValues {
				t.Errorf("the form does not carry acr_values: %v", fields)
			}
			code := codeFrom(t, c.submit(b, action, fields, tc.user, tc.user+"-pw"), a.redirectURI, a.state)
			tok := c.mustExchange(a, code, appSecret)
			for _, name := range []string{"id_token", "access_token"} {
				if got := verifyJWT(t, str(tok, name), appSecret, issuer, "app-client")["acr"]; got != tc.want {
					t.Errorf("%s acr %v, want %s", name, got, tc.want)
				}
			}
		})
	}
	if u := userByName(c.srv.config(), "alice"); !slices.Equal(u.ACR, []string{"mfa"}) {
		t.Errorf("alice's acr list: %v", u.ACR)
	}
}
