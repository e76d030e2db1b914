package outpostapi

import (
	"strings"
	"testing"
	"time"
)

// max_auth_age and acr_values (docs/step-up.md) parse at the provider and
// in a paths entry; a bad value names its line and field.
func TestStaticStepUp(t *testing.T) {
	const provider = `providers:
  - name: app
    external_host: https://app.example.com
    internal_host: http://127.0.0.1:9090
    issuer: https://id.example.com/
    client_id: app
    client_secret: s3cret
    cookie_secret: 0123456789abcdef0123456789abcdef
    paths:
      - prefix: /admin
`
	for _, tc := range []struct {
		name, lines string
		want        time.Duration
		err         []string // parts of the error; nil: it parses
	}{
		{name: "minutes", lines: "        max_auth_age: 10m\n", want: 10 * time.Minute},
		{name: "with acr_values", lines: "        max_auth_age: 1h\n        acr_values: [mfa]\n", want: time.Hour},
		{name: "zero", lines: "        max_auth_age: 0s\n", err: []string{"line 11", "paths[0].max_auth_age", "positive"}},
		{name: "negative", lines: "        max_auth_age: -10m\n", err: []string{"line 11", "paths[0].max_auth_age", "positive"}},
		{name: "a bare number", lines: "        max_auth_age: 600\n", err: []string{"line 11", "max_auth_age", "want a duration"}},
		{name: "days are not a Go duration", lines: "        max_auth_age: 1d\n", err: []string{"line 11", "max_auth_age", `"1d"`}},
		{name: "milliseconds", lines: "        max_auth_age: 1500ms\n", err: []string{"line 11", "max_auth_age", "whole seconds"}},
		{name: "acr with a space", lines: "        acr_values: [mfa, 'a b']\n", err: []string{"line 11", "paths[0].acr_values[1]"}},
		{name: "misspelt", lines: "        max_auth_ag: 10m\n", err: []string{"line 11", "did you mean max_auth_age"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap, err := ParseStatic([]byte(provider+tc.lines), t.TempDir())
			if tc.err != nil {
				if err == nil {
					t.Fatalf("parsed: %+v", snap.Providers[0].Policy)
				}
				for _, part := range tc.err {
					if !strings.Contains(err.Error(), part) {
						t.Errorf("error %q does not say %q", err, part)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			res := snap.Providers[0].Policy.Evaluate(nil, "GET", "/admin/x")
			if !res.Allowed || res.StepUp.MaxAge != tc.want {
				t.Errorf("evaluated %+v, want max age %s", res, tc.want)
			}
		})
	}
}
