package authz

import (
	"strings"
	"testing"
)

const foldedPolicy = `
allowed_groups: [ops, admins]
paths_case_insensitive: %s
paths:
  - prefix: /api/v1/admin
    allowed_groups: [admins]
  - prefix: /Reports/
    allowed_groups: [admins]
  - regex: ^/api/v2/silences?(/|$)
    methods: [POST]
    allowed_groups: [admins]
`

func TestPathsCaseInsensitive(t *testing.T) {
	ops := claimsOf(t, `{"groups":["ops"]}`)
	const (
		admin    = "paths[0] (prefix /api/v1/admin).allowed_groups"
		reports  = "paths[1] (prefix /Reports/).allowed_groups"
		silences = "paths[2] (regex ^/api/v2/silences?(/|$)).allowed_groups"
	)
	cases := []struct {
		name, method, path string
		folded, exact      string // the refusing rule, "" when allowed
	}{
		{"as written", "GET", "/api/v1/admin", admin, admin},
		{"upper case", "GET", "/API/V1/ADMIN", admin, ""},
		{"mixed case below", "GET", "/Api/v1/Admin/tsdb", admin, ""},
		{"still a segment boundary", "GET", "/API/v1/ADMINISTRATORS", "", ""},
		{"prefix with its slash", "GET", "/reports/q1", reports, ""},
		{"prefix with its slash, as written", "GET", "/Reports/q1", reports, reports},
		{"prefix with its slash does not cover the bare name", "GET", "/REPORTS", "", ""},
		{"regex", "POST", "/API/V2/SILENCES", silences, ""},
		{"regex, as written", "POST", "/api/v2/silence/1", silences, silences},
		{"regex keeps its method", "GET", "/API/V2/SILENCES", "", ""},
		// Unicode simple folding covers K (KELVIN SIGN) and ſ (LONG S) too:
		// more spellings than an ASCII-folding app serves, never fewer.
		{"unicode simple folding", "POST", "/api/v2/\u017Filences", silences, ""},
	}
	for _, mode := range []string{"true", "false"} {
		p := compileYAML(t, strings.Replace(foldedPolicy, "%s", mode, 1))
		for _, c := range cases {
			t.Run(mode+"/"+c.name, func(t *testing.T) {
				want := c.exact
				if mode == "true" {
					want = c.folded
				}
				got := p.Evaluate(ops, c.method, c.path)
				if got.Allowed != (want == "") || got.Rule != want {
					t.Errorf("%s %s: %+v, want refused by %q", c.method, c.path, got, want)
				}
			})
		}
	}
}

func TestPathsCaseInsensitiveNeedsPaths(t *testing.T) {
	for _, doc := range []string{
		"paths_case_insensitive: true",
		"paths_case_insensitive: true\nallowed_groups: [ops]",
	} {
		t.Run(doc, func(t *testing.T) {
			var c Config
			decodeStrict(t, doc, &c)
			_, err := Compile(c)
			if e, ok := err.(*Error); !ok || e.Field != "paths_case_insensitive" {
				t.Errorf("error %v, want one naming paths_case_insensitive", err)
			}
		})
	}
}

// A folded prefix matches exactly where the exact prefix matches the
// lower-cased path and prefix, for ASCII paths: same segment boundaries.
func FuzzFoldedPrefix(f *testing.F) {
	for _, s := range [][2]string{{"/Admin", "/ADMIN/x"}, {"/a/", "/A"}, {"/", "/x"}, {"/a.b", "/aXb"}, {"/a", "/a//"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, prefix, path string) {
		if !strings.HasPrefix(prefix, "/") || !ascii(prefix) || !ascii(path) {
			return
		}
		folded := pathRules{re: foldedPrefix(prefix)}
		exact := pathRules{prefix: strings.ToLower(prefix)}
		if got, want := folded.matches("GET", path), exact.matches("GET", strings.ToLower(path)); got != want {
			t.Fatalf("prefix %q, path %q: folded %t, exact on lower case %t", prefix, path, got, want)
		}
	})
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
