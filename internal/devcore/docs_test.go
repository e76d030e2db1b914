package devcore

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// devcoreOnlyKeys are top-level keys of a devcore file that an outpost's
// standalone file does not have: a documented YAML block with one of them
// is a devcore example.
var devcoreOnlyKeys = []string{"outposts", "certificates", "users", "groups", "admin_token", "core_version"}

// docsDevcoreExamples are the devcore examples of the repository's
// markdown, by file.
func docsDevcoreExamples(t *testing.T) map[string][][]byte {
	t.Helper()
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][][]byte{}
	for _, f := range append(files, "../../README.md") {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range yamlBlock.FindAllSubmatch(b, -1) {
			var top map[string]any
			if yaml.Unmarshal(m[1], &top) != nil {
				continue // a fragment, not a file
			}
			for _, k := range devcoreOnlyKeys {
				if _, ok := top[k]; ok {
					name := strings.TrimPrefix(f, "../../")
					out[name] = append(out[name], m[1])
					break
				}
			}
		}
	}
	return out
}

// noEmptySkipExpression fails the test if a skip_path_regex of the devcore
// file src (loaded as cfg) has an empty expression, a line that authentik's
// outpost compiles into one matching every path: neither as written (the
// example itself must be safe, whatever the loader does) nor as served. It
// returns how many values it checked.
func noEmptySkipExpression(t *testing.T, what string, src []byte, cfg *Config) int {
	t.Helper()
	var written struct {
		Providers []struct {
			SkipPathRegex string `yaml:"skip_path_regex"`
		} `yaml:"providers"`
	}
	if err := yaml.Unmarshal(src, &written); err != nil || len(written.Providers) != len(cfg.Providers) {
		t.Fatalf("%s: reading the providers back: %v", what, err)
	}
	n := 0
	for i := range cfg.Providers {
		p := &cfg.Providers[i]
		for _, v := range []struct{ how, value string }{
			{"written", written.Providers[i].SkipPathRegex},
			{"served", proxyOutpostConfig(cfg, p, "http://devcore.invalid").SkipPathRegex},
		} {
			if v.value == "" {
				continue
			}
			n++
			for j, line := range strings.Split(v.value, "\n") {
				if strings.TrimSpace(line) == "" {
					t.Errorf("%s: provider %s: skip_path_regex %s as %q, whose line %d is empty: every path would be public in authentik's outpost", what, p.Name, v.how, v.value, j+1)
				}
			}
		}
	}
	return n
}

// Every devcore example in the docs loads, and serves no skip expression
// that would fail open in any outpost.
func TestDocsExamplesLoad(t *testing.T) {
	examples := docsDevcoreExamples(t)
	// The examples known to the test: one gone missing (or moved, or no
	// longer recognised) fails here rather than going unchecked.
	want := map[string]int{"docs/devcore.md": 3}
	for f, n := range want {
		if len(examples[f]) != n {
			t.Errorf("%s: %d devcore examples, want %d", f, len(examples[f]), n)
		}
	}
	for f, blocks := range examples {
		if _, ok := want[f]; !ok {
			t.Errorf("%s: %d devcore examples this test does not know; add them to want", f, len(blocks))
		}
	}
	skips := 0
	for f, blocks := range examples {
		for i, b := range blocks {
			cfg, err := ParseConfig(b)
			if err != nil {
				t.Errorf("%s, example %d does not load: %v", f, i+1, err)
				continue
			}
			skips += noEmptySkipExpression(t, f, b, cfg)
		}
	}
	// One value, written and served.
	if skips != 2 {
		t.Errorf("%d skip_path_regex values checked in the docs, want 2", skips)
	}

	// What each example of docs/devcore.md shows.
	dc := examples["docs/devcore.md"]
	if len(dc) != 3 {
		return
	}
	cfg := mustParse(t, string(dc[0]))
	if len(cfg.Outposts) != 1 || len(cfg.Providers) != 1 || len(cfg.Users) != 1 || cfg.Providers[0].SkipPathRegex != "^/-/healthy$\n^/-/ready$" {
		t.Errorf("the full example parsed to %+v", cfg)
	}
	if cfg := mustParse(t, string(dc[1])); cfg.CoreVersion != "2026.8" || !cfg.release.nullFlows {
		t.Errorf("the core_version example speaks as %q", cfg.CoreVersion)
	}
	cfg = mustParse(t, string(dc[2]))
	if len(cfg.Outposts) != 0 || signingAlg(cfg, &cfg.Providers[0]) != "RS256" {
		t.Errorf("issuer example: %d outposts, signs %s", len(cfg.Outposts), signingAlg(cfg, &cfg.Providers[0]))
	}
}

// The docker-compose demo's core configuration loads, with its skip value
// served as one expression.
func TestComposeCoreConfigLoads(t *testing.T) {
	const path = "../../deploy/compose/core.yaml"
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := noEmptySkipExpression(t, "deploy/compose/core.yaml", src, cfg); n != 2 {
		t.Errorf("%d skip_path_regex values checked, want 2 (one, written and served)", n)
	}
}
