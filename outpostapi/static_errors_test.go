package outpostapi

import (
	"strings"
	"testing"
)

// toyStatic is a one-provider file; each case below breaks one line of it
// the way operators do.
const toyStatic = `outpost:
  name: edge
providers:
  - name: toy
    external_host: https://toy.example.com
    internal_host: http://127.0.0.1:9090
    issuer: https://id.example.com/
    client_id: toy
    client_secret: s3cret
    cookie_secret: 0123456789abcdef0123456789abcdef
    access_token_validity: 3600
`

func TestParseStaticExplainsYAMLMistakes(t *testing.T) {
	cases := []struct {
		name string
		old  string // replaced in toyStatic by new; "" replaces the whole file
		new  string
		want string // the whole error message
	}{
		{"misspelt field", "    client_id: toy\n", "    client_id: toy\n    internal_host_ssl_validaton: false\n",
			`line 9: provider "toy": internal_host_ssl_validaton: unknown field, did you mean internal_host_ssl_validation?`},
		{"dash for underscore", "client_id: toy", "client-id: toy",
			`line 8: provider "toy": client-id: unknown field, did you mean client_id?`},
		{"misspelt rule option", "    client_id: toy\n", "    client_id: toy\n    alowed_groups: [admins]\n",
			`line 9: provider "toy": alowed_groups: unknown field, did you mean allowed_groups?`},
		{"misspelt outpost field", "  name: edge\n", "  name: edge\n  loglevel: debug\n",
			`line 3: outpost.loglevel: unknown field, did you mean log_level?`},
		{"misspelt tls field", "    client_id: toy\n", "    client_id: toy\n    tls:\n      cert: a.pem\n      key_file: a.key\n",
			`line 10: provider "toy": tls.cert: unknown field, did you mean cert_file?`},
		{"nothing like it", "    client_id: toy\n", "    client_id: toy\n    colour: blue\n",
			`line 9: provider "toy": colour: unknown field (docs/standalone.md lists the fields)`},
		{"days for seconds", "access_token_validity: 3600", "access_token_validity: 1d",
			`line 11: provider "toy": access_token_validity: want a number of seconds, like 86400 for 24 hours, got "1d"`},
		{"yes-ish boolean", "    client_id: toy\n", "    client_id: toy\n    basic_auth_enabled: maybe\n",
			`line 9: provider "toy": basic_auth_enabled: want true or false, got "maybe"`},
		{"scopes as one string", "    client_id: toy\n", "    client_id: toy\n    scopes_to_request: openid email\n",
			`line 9: provider "toy": scopes_to_request: want a list (one "- " line per item, or [a, b]), got "openid email"`},
		{"list where a map is expected", "outpost:\n  name: edge\n", "outpost:\n  - name: edge\n",
			`line 2: outpost: want a mapping (name: value lines), got a list`},
		{"providers as a map", "  - name: toy\n    external_host", "    name: toy\n    external_host",
			`line 4: providers: want a list (one "- " line per item, or [a, b]), got a mapping`},
		{"a provider as a list", "", "providers:\n  - - name: toy\n",
			`line 2: provider "#1": want a mapping (name: value lines), got a list`},
		{"map where text is expected", "client_id: toy", "client_id: {id: toy}",
			`line 8: provider "toy": client_id: want text, got a mapping`},
		{"unnamed provider", "  - name: toy\n    external_host", "  - external_host",
			`line 4: provider "#1": name: must not be empty`},
		{"tab indent", "    client_id: toy\n", "\tclient_id: toy\n",
			`line 8: indented with a tab: YAML indents with spaces only`},
		{"empty file", "", "",
			"empty configuration: a minimal file looks like this (see docs/standalone.md):\n" + minimalStatic},
		{"only comments", "", "# providers: come later\n",
			"empty configuration: a minimal file looks like this (see docs/standalone.md):\n" + minimalStatic},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := tc.new
			if tc.old != "" {
				if !strings.Contains(toyStatic, tc.old) {
					t.Fatalf("the case's old text %q is not in the file", tc.old)
				}
				doc = strings.Replace(toyStatic, tc.old, tc.new, 1)
			}
			_, err := ParseStatic([]byte(doc), t.TempDir())
			if err == nil {
				t.Fatalf("accepted:\n%s", doc)
			}
			if err.Error() != tc.want {
				t.Errorf("error\n  %s\nwant\n  %s", err, tc.want)
			}
			for _, goName := range []string{"outpostapi.", "float64", "[]string", "struct"} {
				if strings.Contains(err.Error(), goName) {
					t.Errorf("error names a Go type (%s): %s", goName, err)
				}
			}
		})
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"abc", "", 3}, {"kitten", "sitting", 3}, {"client_id", "client_id", 0}, {"validaton", "validation", 1}} {
		t.Run(tc.a+"/"+tc.b, func(t *testing.T) {
			if got := editDistance(tc.a, tc.b); got != tc.want {
				t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
			}
		})
	}
}
