package main

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/outpost-dev/outpost/internal/devcore"
	"github.com/outpost-dev/outpost/outpostapi"
)

// emptyLine is the 1-based number of the first empty (or white space) line
// of a skip_path_regex value, 0 when there is none. authentik's outpost
// compiles such a line into an expression that matches every path.
func emptyLine(skip string) int {
	for i, line := range strings.Split(skip, "\n") {
		if strings.TrimSpace(line) == "" {
			return i + 1
		}
	}
	return 0
}

// The stand-in core configurations the demos embed, filled as the demos
// fill them, load, and neither write nor serve a skip_path_regex with an
// empty expression.
func TestDemoCoreConfigsHaveNoEmptySkipExpression(t *testing.T) {
	demo, err := demoCoreConfig("demo-token-0123456789abcdef", "127.0.0.1:9080", "9000", "127.0.0.1:9001")
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := renderTemplate(standaloneIssuerTemplate, standaloneDemoValues("127.0.0.1:9080", "9000", "127.0.0.1:9001"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		text  []byte
		skips int // non-empty values, written or served
	}{
		{"demo.yaml.tmpl", demo, 2},
		{"demo_standalone_issuer.yaml.tmpl", issuer, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var written struct {
				Providers []struct {
					Name          string `yaml:"name"`
					SkipPathRegex string `yaml:"skip_path_regex"`
				} `yaml:"providers"`
			}
			if err := yaml.Unmarshal(tc.text, &written); err != nil {
				t.Fatal(err)
			}
			values := map[string]string{}
			for _, p := range written.Providers {
				values["written by "+p.Name] = p.SkipPathRegex
			}
			cfg, err := devcore.ParseConfig(tc.text)
			if err != nil {
				t.Fatalf("does not load: %v", err)
			}
			core, err := devcore.New(cfg, devcore.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewServer(core.Handler())
			t.Cleanup(func() { ts.Close(); _ = core.Close() })
			for _, o := range cfg.Outposts {
				for _, p := range servedProviders(t, ts.URL, o.Token) {
					values["served to "+o.Name+" for "+p.Name] = p.SkipPathRegex
				}
			}
			n := 0
			for what, v := range values {
				if v == "" {
					continue
				}
				n++
				if i := emptyLine(v); i > 0 {
					t.Errorf("skip_path_regex %s is %q: line %d is empty", what, v, i)
				}
			}
			if n != tc.skips {
				t.Errorf("%d skip_path_regex values checked, want %d", n, tc.skips)
			}
		})
	}
}

// servedProviders is the first page of GET /api/v3/outposts/proxy/ as the
// outpost with token reads it.
func servedProviders(t *testing.T, base, token string) []outpostapi.ProxyOutpostConfig {
	t.Helper()
	var page outpostapi.Paginated[outpostapi.ProxyOutpostConfig]
	coreAPI(t, base+"/api/v3/outposts/proxy/?page_size=100", token, &page)
	return page.Results
}
