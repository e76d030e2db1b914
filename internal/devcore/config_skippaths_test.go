package devcore

import (
	"fmt"
	"strings"
	"testing"
)

// withSkip is baseYAML with the prometheus provider's skip_path_regex set
// to field (the key and its value, as they appear in the file).
func withSkip(t *testing.T, field string) string {
	t.Helper()
	const anchor = "    cookie_secret: prom-cookie-secret-0123456789\n"
	if !strings.Contains(baseYAML, anchor) {
		t.Fatal("baseYAML lacks the prometheus cookie_secret")
	}
	return strings.Replace(baseYAML, anchor, anchor+field, 1)
}

// The value is stored, and served, as authentik's core stores it: without
// the newline YAML's `|` ends it with, nor any other surrounding white
// space.
func TestSkipPathRegexIsTrimmed(t *testing.T) {
	for _, tc := range []struct {
		name, field, want string
	}{
		{"literal block", "    skip_path_regex: |\n      ^/public/\n", "^/public/"},
		{"literal block, strip", "    skip_path_regex: |-\n      ^/public/\n", "^/public/"},
		{"literal block, keep", "    skip_path_regex: |+\n      ^/public/\n\n\n", "^/public/"},
		{"literal block of two", "    skip_path_regex: |\n      ^/public/\n      ^/-/healthy$\n", "^/public/\n^/-/healthy$"},
		{"plain", "    skip_path_regex: ^/public/\n", "^/public/"},
		{"quoted, blank lines around", `    skip_path_regex: "\n\n^/a$\n^/b$\n\n"` + "\n", "^/a$\n^/b$"},
		{"quoted, spaces around", `    skip_path_regex: "  ^/a$\t "` + "\n", "^/a$"},
		{"empty", `    skip_path_regex: ""` + "\n", ""},
		{"absent", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, withSkip(t, tc.field))
			if got := c.Providers[0].SkipPathRegex; got != tc.want {
				t.Errorf("stored %q, want %q", got, tc.want)
			}
			if got := proxyOutpostConfig(c, &c.Providers[0], "http://h").SkipPathRegex; got != tc.want {
				t.Errorf("served %q, want %q", got, tc.want)
			}
		})
	}
}

// A value an outpost could read as an empty expression (which matches every
// path in authentik's outpost), or that outposts read differently, or that
// does not compile, is refused, naming the provider, the line of the value
// and the YAML line.
func TestSkipPathRegexRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		field string
		want  string
		// yamlLine: the error's line, counted from the skip_path_regex key
		// (0: the key's line).
		yamlLine int
	}{
		{"blank line in a literal block", "    skip_path_regex: |\n      ^/a$\n\n      ^/b$\n",
			"line 2 of the value is empty", 2},
		{"blank lines before the blank line", `    skip_path_regex: "\n\n^/a$\n\n^/b$"` + "\n",
			"line 4 of the value is empty", 0},
		{"white space line", `    skip_path_regex: "^/a$\n   \n^/b$"` + "\n",
			"line 2 of the value is empty", 0},
		{"only white space", `    skip_path_regex: " \n\t\n "` + "\n",
			"is only white space", 0},
		{"indented line in a literal block", "    skip_path_regex: |\n      ^/a$\n        ^/b$\n",
			"line 2 of the value has white space around the expression", 2},
		{"trailing carriage return", `    skip_path_regex: "^/a$\r\n^/b$"` + "\n",
			"line 1 of the value has white space around the expression", 0},
		{"does not compile", "    skip_path_regex: |-\n      ^/a$\n      ^/(b$\n",
			"line 2 of the value does not compile: error parsing regexp: missing closing ): `^/(b$`", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y := withSkip(t, tc.field)
			_, err := ParseConfig([]byte(y))
			if err == nil {
				t.Fatal("accepted")
			}
			line := lineOf(t, y, "skip_path_regex:") + tc.yamlLine
			want := fmt.Sprintf(`line %d: providers[0] ("prometheus"): skip_path_regex: %s`, line, tc.want)
			if !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error\n  %q\ndoes not start with\n  %q", err, want)
			}
		})
	}
}

// A configuration built in code has no lines; the error still names the
// provider, the field and the line of the value.
func TestSkipPathRegexRefusedInCode(t *testing.T) {
	c := mustParse(t, baseYAML)
	cfg := &Config{Providers: c.Providers[:1:1]}
	cfg.Providers[0].SkipPathRegex = "^/a$\n\n^/b$"
	_, err := New(cfg, Options{})
	want := `providers[0] ("prometheus"): skip_path_regex: line 2 of the value is empty`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %v, want it to start with %q", err, want)
	}
}
