package outpostapi

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goodStatic = `outpost:
  name: edge
  log_level: debug
providers:
  - name: prometheus
    external_host: https://prom.example.com
    internal_host: http://127.0.0.1:9090
    issuer: https://id.example.com/
    client_id: prom
    client_secret: s3cret
    cookie_secret: 0123456789abcdef0123456789abcdef
    skip_path_regex: |
      ^/-/healthy$

      ^/-/ready$
  - name: alertmanager
    mode: forward_single
    external_host: https://am.example.com
    issuer: https://id.example.com/
    client_id: am
    client_secret_file: am.secret
    cookie_secret: 0123456789abcdef0123456789abcdef
    scopes_to_request: [openid, email]
    access_token_validity: 600
    intercept_header_auth: false
`

func TestParseStaticGood(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "am.secret"), []byte("  from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	snap, err := ParseStatic([]byte(goodStatic), dir)
	if err != nil {
		t.Fatalf("ParseStatic: %v", err)
	}
	if snap.Outpost.Name != "edge" || snap.Outpost.LogLevel != "debug" {
		t.Errorf("outpost = %+v", snap.Outpost)
	}
	if len(snap.Providers) != 2 {
		t.Fatalf("got %d providers, want 2", len(snap.Providers))
	}
	prom, am := snap.Providers[0], snap.Providers[1]
	if prom.Mode != ModeProxy || prom.PK != 1 || prom.InternalURL.Host != "127.0.0.1:9090" || prom.Issuer != "https://id.example.com/" {
		t.Errorf("prometheus defaults wrong: %+v", prom)
	}
	if len(prom.SkipPaths) != 2 {
		t.Errorf("blank skip_path_regex line must be ignored, got %d regexps", len(prom.SkipPaths))
	}
	if !prom.SkipPaths[0].MatchString("/-/healthy") || prom.SkipPaths[0].MatchString("/graph") {
		t.Errorf("skip regexp does not match as written")
	}
	if got := strings.Join(prom.ScopesToRequest, " "); got != "openid profile email" {
		t.Errorf("default scopes = %q", got)
	}
	if prom.AccessTokenValidity == nil || *prom.AccessTokenValidity != 86400 {
		t.Errorf("default validity = %v", prom.AccessTokenValidity)
	}
	if am.ClientSecret != "from-file" {
		t.Errorf("client_secret_file not read and trimmed: %q", am.ClientSecret)
	}
	if !prom.InterceptHeaderAuth || am.InterceptHeaderAuth {
		t.Errorf("intercept_header_auth: default %t (want true, as authentik), explicit false %t", prom.InterceptHeaderAuth, am.InterceptHeaderAuth)
	}
	if am.InternalURL != nil || am.PK != 2 || *am.AccessTokenValidity != 600 {
		t.Errorf("alertmanager: %+v", am)
	}
}

// The same client_id at the same issuer (one client for several apps, as
// Dex allows) is fine: the sessions are that issuer's either way.
func TestParseStaticSameClientAtOneIssuer(t *testing.T) {
	doc := strings.Replace(goodStatic, "    issuer: https://id.example.com/\n    client_id: am\n", "    issuer: https://id.example.com\n    client_id: prom\n", 1)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "am.secret"), "x")
	if _, err := ParseStatic([]byte(doc), dir); err != nil {
		t.Fatal(err)
	}
}

// Every rejected file must name where the operator has to look.
func TestParseStaticErrorsNameLineAndField(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "am.secret"), "x")
	cases := []struct {
		name    string
		edit    func(string) string
		wantIn  []string
		comment string
	}{
		{"unknown field", func(s string) string {
			return strings.Replace(s, "    client_id: prom\n", "    client_id: prom\n    clientsecret: x\n", 1)
		}, []string{"line 10", "clientsecret"}, "typo'd keys must not be ignored"},
		{"typo in a rule option", func(s string) string {
			return strings.Replace(s, "    client_id: prom\n", "    client_id: prom\n    path_case_insensitive: true\n", 1)
		}, []string{"line 10", "path_case_insensitive"}, "a misspelt paths_case_insensitive must not leave paths case-sensitive unnoticed"},
		{"bad regexp", func(s string) string {
			return strings.Replace(s, "^/-/ready$", "^/-/(ready$", 1)
		}, []string{"line 12", `"prometheus"`, "skip_path_regex", "line 3"}, "the field's line, then the line inside the block"},
		{"unknown mode", func(s string) string {
			return strings.Replace(s, "mode: forward_single", "mode: forward", 1)
		}, []string{"line 17", `"alertmanager"`, "mode", "forward"}, ""},
		{"bad external host", func(s string) string {
			return strings.Replace(s, "https://prom.example.com", "prom.example.com", 1)
		}, []string{"line 6", "external_host", "scheme"}, ""},
		{"proxy without internal host", func(s string) string {
			return strings.Replace(s, "    internal_host: http://127.0.0.1:9090\n", "", 1)
		}, []string{`"prometheus"`, "internal_host", "empty"}, ""},
		{"missing issuer", func(s string) string {
			return strings.Replace(s, "    issuer: https://id.example.com/\n    client_id: am\n", "    client_id: am\n", 1)
		}, []string{`"alertmanager"`, "issuer"}, ""},
		{"secret file missing", func(s string) string { return s }, []string{"line 21", "client_secret_file", "am.secret"}, "dir has no am.secret"},
		{"short cookie secret", func(s string) string {
			return strings.Replace(s, "cookie_secret: 0123456789abcdef0123456789abcdef\n    scopes", "cookie_secret: short\n    scopes", 1)
		}, []string{"line 22", `"alertmanager"`, "cookie_secret", "16"}, ""},
		{"duplicate name", func(s string) string {
			return strings.Replace(s, "name: alertmanager", "name: prometheus", 1)
		}, []string{"line 16", "name", "#1"}, ""},
		{"same client_id at another issuer", func(s string) string {
			s = strings.Replace(s, "    issuer: https://id.example.com/\n    client_id: am\n", "    issuer: https://other-id.example.com/\n    client_id: prom\n", 1)
			return s
		}, []string{"line 20", `"alertmanager"`, "client_id", `"prometheus"`, "other issuer"}, "sessions are bound to the client_id"},
		{"bad log level", func(s string) string { return strings.Replace(s, "log_level: debug", "log_level: loud", 1) },
			[]string{"line 3", "log_level", "loud"}, ""},
		{"not yaml", func(string) string { return "providers: [\n" }, []string{"line"}, ""},
		{"empty", func(string) string { return "" }, []string{"empty"}, ""},
		{"no providers", func(string) string { return "outpost: {name: x}\n" }, []string{"providers"}, ""},
		{"wrong type", func(s string) string {
			return strings.Replace(s, "access_token_validity: 600", "access_token_validity: soon", 1)
		}, []string{"line 24", "soon"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := dir
			if tc.name == "secret file missing" {
				base = t.TempDir()
			}
			_, err := ParseStatic([]byte(tc.edit(goodStatic)), base)
			if err == nil {
				t.Fatalf("accepted a bad file (%s)", tc.comment)
			}
			for _, want := range tc.wantIn {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func FuzzParseStatic(f *testing.F) {
	f.Add([]byte(goodStatic))
	f.Add([]byte("providers:\n  - name: a\n    skip_path_regex: \"(\"\n"))
	f.Add([]byte("outpost: [1]\nproviders: {a: b}\n"))
	f.Add([]byte("providers:\n  - &a {name: x}\n  - *a\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		snap, err := ParseStatic(b, dir)
		if err != nil {
			return
		}
		// Whatever is accepted must be usable by the data plane.
		for _, p := range snap.Providers {
			if p.ExternalURL == nil || p.Issuer == "" || p.ClientID == "" || len(p.CookieSecret) < 16 {
				t.Fatalf("accepted an unusable provider: %+v", p)
			}
			if p.Mode == ModeProxy && p.InternalURL == nil {
				t.Fatalf("accepted a proxy provider with no upstream: %+v", p)
			}
		}
	})
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestStaticAuthorizationRules(t *testing.T) {
	doc := `providers:
  - name: prometheus
    external_host: https://prom.example.com
    internal_host: http://127.0.0.1:9090
    issuer: https://id.example.com/
    client_id: prom
    client_secret: s
    cookie_secret: 0123456789abcdef
    allowed_groups: [ops]
    paths:
      - prefix: /api/v1/admin
        allowed_groups: [admins]
  - name: alertmanager
    external_host: https://am.example.com
    internal_host: http://127.0.0.1:9093
    issuer: https://id.example.com/
    client_id: am
    client_secret: s
    cookie_secret: 0123456789abcdef
    paths:
      - regex: "^/api/(v1"
        allowed_groups: [admins]
`
	// Without the second provider, the first is served with its rules.
	good := doc[:strings.Index(doc, "  - name: alertmanager")]
	snap, err := ParseStatic([]byte(good), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Providers) != 1 || snap.Providers[0].Name != "prometheus" || snap.Providers[0].Policy == nil {
		t.Fatalf("providers: %+v", snap.Providers)
	}
	p := snap.Providers[0].Policy
	ops := map[string]any{"groups": []any{"ops"}}
	if !p.Evaluate(ops, "GET", "/graph").Allowed || p.Evaluate(ops, "GET", "/api/v1/admin/tsdb").Allowed {
		t.Error("rules not as written")
	}
	// With it, the whole file is refused, naming provider, field and line.
	_, err = ParseStatic([]byte(doc), t.TempDir())
	var perr ProviderError
	if !errors.As(err, &perr) {
		t.Fatalf("a rule that cannot be evaluated: %v, want the file refused", err)
	}
	if perr.Provider != "alertmanager" || perr.Field != "paths[0].regex" || perr.Line != 21 || !strings.Contains(perr.Err, "missing closing )") {
		t.Errorf("the error does not name the provider, field and line: %+v", perr)
	}
}
