package devcore

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestRegisteredRedirectURIs(t *testing.T) {
	for _, tc := range []struct {
		external string
		want     []string
	}{
		{"https://app.example.com", []string{
			"https://app.example.com/outpost.goauthentik.io/callback?X-authentik-auth-callback=true",
			"https://app.example.com?X-authentik-auth-callback=true",
		}},
		{"https://app.example.com/", []string{
			"https://app.example.com/outpost.goauthentik.io/callback?X-authentik-auth-callback=true",
			"https://app.example.com/?X-authentik-auth-callback=true",
		}},
		{"http://app.example.com:8080/sub/", []string{
			"http://app.example.com:8080/sub/outpost.goauthentik.io/callback?X-authentik-auth-callback=true",
			"http://app.example.com:8080/sub/?X-authentik-auth-callback=true",
		}},
		// urljoin semantics: the last segment of a non-slash path is replaced.
		{"https://app.example.com/sub", []string{
			"https://app.example.com/outpost.goauthentik.io/callback?X-authentik-auth-callback=true",
			"https://app.example.com/sub?X-authentik-auth-callback=true",
		}},
		{"https://[::1]:9000", []string{
			"https://[::1]:9000/outpost.goauthentik.io/callback?X-authentik-auth-callback=true",
			"https://[::1]:9000?X-authentik-auth-callback=true",
		}},
		{"", nil},
		{"app.example.com", nil},
		{"://bad", nil},
	} {
		t.Run(tc.external, func(t *testing.T) {
			got := registeredRedirectURIs(&ProviderConfig{ExternalHost: tc.external})
			if !slices.Equal(got, tc.want) {
				t.Errorf("%q: %q, want %q", tc.external, got, tc.want)
			}
		})
	}
}

func TestFilterScope(t *testing.T) {
	sup := []string{"openid", "email", "profile", "offline_access"}
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", sup},
		{"   ", sup},
		{"openid", []string{"openid"}},
		{"email openid email  unknown\tprofile", []string{"email", "openid", "profile"}},
		{"unknown", []string{}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := filterScope(tc.in, sup); !slices.Equal(got, tc.want) || got == nil {
				t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestPKCEVerified(t *testing.T) {
	v := strings.Repeat("a", 43)
	for _, tc := range []struct {
		challenge, method, verifier string
		ok                          bool
	}{
		{"", "", "", true},
		{"", "", v, false},
		{s256(v), "S256", v, true},
		{s256(v), "S256", "", false},
		{s256(v), "S256", strings.Repeat("b", 43), false},
		{s256(v), "plain", v, false},
		{v, "plain", v, true},
		{v, "S256", v, false},
		{s256("short"), "S256", "short", false},
		{s256(strings.Repeat("a", 129)), "S256", strings.Repeat("a", 129), false},
		{s256(v + "é"), "S256", v + "é", false},
	} {
		t.Run(tc.challenge+"_"+tc.method+"_"+tc.verifier, func(t *testing.T) {
			if ok, _ := pkceVerified(tc.challenge, tc.method, tc.verifier); ok != tc.ok {
				t.Errorf("%+v: %v", tc, ok)
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	for _, tc := range []struct {
		h, tok string
		ok     bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER  abc ", "abc", true},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Basic abc", "", false},
		{"Bearer a b", "", false},
		{"Bearerabc", "", false},
		{"", "", false},
	} {
		t.Run(tc.h, func(t *testing.T) {
			tok, ok := bearerToken(tc.h)
			if tok != tc.tok || ok != tc.ok {
				t.Errorf("%q: %q %v", tc.h, tok, ok)
			}
		})
	}
}

func TestPostLogoutAllowed(t *testing.T) {
	pc := &ProviderConfig{ExternalHost: "https://app.example.com"}
	for target, ok := range map[string]bool{
		"https://app.example.com":  true,
		"https://app.example.com/": true,
		"https://app.example.com/outpost.goauthentik.io/callback?X-authentik-auth-callback=true": true,
		"https://app.example.com?X-authentik-auth-callback=true":                                 true,
		"https://app.example.com//":       false,
		"https://app.example.com/x":       false,
		"https://app.example.com.evil.io": false,
		"":                                false,
	} {
		t.Run(target, func(t *testing.T) {
			if got := postLogoutAllowed(pc, target); got != ok {
				t.Errorf("%q: %v", target, got)
			}
		})
	}
	if postLogoutAllowed(&ProviderConfig{ExternalHost: "https://a.example.com/sub"}, "https://a.example.com/sub/") {
		t.Error("trailing slash added to a path")
	}
}

// fuzzConfig is a fixed configuration for the fuzz targets.
func fuzzConfig() *Config {
	return &Config{Providers: []ProviderConfig{
		{Name: "a", ExternalHost: "https://app.example.com", ClientID: "app-client", ClientSecret: appSecret},
		{Name: "b", ExternalHost: "http://b.example.com/sub", ClientID: "b", ClientSecret: otherSecret,
			ScopesToRequest: []string{"openid", "offline_access"}},
	}}
}

// FuzzParseAuthorize: whatever the query, a request that may be redirected
// (success or redirectable error) redirects only to a registered URI of
// the client named, and a success is a code request within the
// provider's scopes and a well-formed PKCE challenge.
func FuzzParseAuthorize(f *testing.F) {
	f.Add("client_id=app-client&redirect_uri=https%3A%2F%2Fapp.example.com%2Foutpost.goauthentik.io%2Fcallback%3FX-authentik-auth-callback%3Dtrue&response_type=code&scope=openid+email&state=x&code_challenge=" + strings.Repeat("A", 43) + "&code_challenge_method=S256")
	f.Add("client_id=b&redirect_uri=http%3A%2F%2Fb.example.com%2Fsub%3FX-authentik-auth-callback%3Dtrue&response_type=code&prompt=none+login")
	f.Add("client_id=app-client&client_id=b&redirect_uri=x")
	f.Add("client_id=app-client&redirect_uri=https%3A%2F%2Fapp.example.com%3FX-authentik-auth-callback%3Dtrue&response_type=token&request=1")
	f.Add("%zz&client_id=%00")
	cfg := fuzzConfig()
	f.Fuzz(func(t *testing.T, raw string) {
		q, _ := url.ParseQuery(raw)
		req, prob := parseAuthorize(cfg, q)
		if prob != nil && prob.page {
			if req != nil {
				t.Fatal("page error with a redirectable request")
			}
			return
		}
		if req == nil {
			t.Fatal("no request and no page error")
		}
		pc := providerByClientID(cfg, q.Get("client_id"))
		if pc == nil || req.provider != pc || len(q["client_id"]) != 1 || len(q["redirect_uri"]) != 1 {
			t.Fatalf("redirectable with client %q", q["client_id"])
		}
		if !slices.Contains(registeredRedirectURIs(pc), req.redirectURI) {
			t.Fatalf("would redirect to unregistered %q", req.redirectURI)
		}
		if prob != nil {
			if prob.code == "" {
				t.Fatal("problem without an error code")
			}
			return
		}
		if req.responseType != "code" {
			t.Fatalf("accepted response_type %q", req.responseType)
		}
		for _, s := range req.scope {
			if !slices.Contains(providerScopes(pc), s) {
				t.Fatalf("scope %q not the provider's", s)
			}
		}
		if req.challenge != "" && (!validPKCEString(req.challenge) || (req.challengeMethod != "S256" && req.challengeMethod != "plain")) {
			t.Fatalf("accepted challenge %q method %q", req.challenge, req.challengeMethod)
		}
		// The redirect built from it keeps the registered URI as a prefix
		// and round-trips the state.
		loc := withQuery(req.redirectURI, url.Values{"code": {"c"}, "state": {req.state}})
		u, err := url.Parse(loc)
		if err != nil || !strings.HasPrefix(loc, req.redirectURI+"&") || u.Query().Get("state") != req.state {
			t.Fatalf("redirect %q (%v)", loc, err)
		}
	})
}

// FuzzBearerToken: an extracted token is never empty and has no blanks.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  x ", "Basic y", "Bearer", " Bearer\tz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok := bearerToken(h)
		if ok != (tok != "") || strings.ContainsAny(tok, " \t") {
			t.Fatalf("%q → %q %v", h, tok, ok)
		}
	})
}
