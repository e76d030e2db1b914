package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/outpost-dev/outpost/outpostapi"
)

// What an operator reads as configurations come and go: the first in
// force, each that replaces it, a core's unchanged refresh at debug level
// only, and every provider left out (by validation or by the data plane)
// named once per cause.
func TestConfigReport(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var report configReport
	lines := func() []map[string]any {
		t.Helper()
		var out []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("not a JSON line: %q", l)
			}
			out = append(out, m)
		}
		buf.Reset()
		return out
	}
	snap := func(source string, names ...string) *outpostapi.Snapshot {
		s := &outpostapi.Snapshot{Source: source, Outpost: outpostapi.OutpostInfo{Name: "op"}}
		for _, n := range names {
			s.Providers = append(s.Providers, outpostapi.Provider{ProxyOutpostConfig: outpostapi.ProxyOutpostConfig{Name: n}})
		}
		return s
	}
	badURL := outpostapi.ProviderError{Provider: "bad-url", Field: "external_host", Err: "not a URL"}
	badRegexp := outpostapi.ProviderError{Provider: "bad-regexp", Field: "skip_path_regex", Err: "line 2: missing )"}
	badSecret := outpostapi.ProviderError{Provider: "zulu", Field: "cookie_secret", Err: "too short"}

	type line struct {
		level, msg, provider string
		providers, rejected  float64
	}
	summary := func(ls []map[string]any) []line {
		var out []line
		for _, l := range ls {
			got := line{level: l["level"].(string), msg: l["msg"].(string)}
			got.provider, _ = l["provider"].(string)
			got.providers, _ = l["providers"].(float64)
			got.rejected, _ = l["rejected"].(float64)
			out = append(out, got)
		}
		return out
	}
	leftOut := func(name string) line {
		return line{level: "WARN", msg: "provider left out of the configuration", provider: name}
	}
	for _, step := range []struct {
		name    string
		snap    *outpostapi.Snapshot
		dropped []outpostapi.ProviderError
		want    []line
	}{
		{"first", withRejected(snap("core", "alpha", "zulu"), badURL, badRegexp), []outpostapi.ProviderError{badSecret},
			[]line{leftOut("bad-url"), leftOut("bad-regexp"), leftOut("zulu"), {"INFO", "configuration in force", "", 1, 3}}},
		{"the same from the core", withRejected(snap("core", "alpha", "zulu"), badURL, badRegexp), []outpostapi.ProviderError{badSecret},
			[]line{{"DEBUG", "configuration refreshed, unchanged", "", 1, 3}}},
		{"a provider more, the same causes", withRejected(snap("core", "alpha", "beta", "zulu"), badURL, badRegexp), []outpostapi.ProviderError{badSecret},
			[]line{{"INFO", "configuration reloaded", "", 2, 3}}},
		{"a cause fixed, another new", withRejected(snap("core", "alpha", "beta", "zulu"), badURL, outpostapi.ProviderError{Provider: "bad-regexp", Field: "mode", Err: "unknown"}), nil,
			[]line{leftOut("bad-regexp"), {"INFO", "configuration reloaded", "", 3, 2}}},
		{"a file", snap("/etc/outpost/providers.yaml", "alpha"), nil,
			[]line{{"INFO", "configuration reloaded", "", 1, 0}}},
		{"the same file again", snap("/etc/outpost/providers.yaml", "alpha"), nil,
			[]line{{"INFO", "configuration reloaded", "", 1, 0}}},
	} {
		t.Run(step.name, func(t *testing.T) {
			report.inForce(log, step.snap, step.dropped)
			got := summary(lines())
			if len(got) != len(step.want) {
				t.Fatalf("lines %+v, want %+v", got, step.want)
			}
			for i := range got {
				if got[i] != step.want[i] {
					t.Errorf("line %d: %+v, want %+v", i, got[i], step.want[i])
				}
			}
		})
	}
}

func withRejected(s *outpostapi.Snapshot, rejected ...outpostapi.ProviderError) *outpostapi.Snapshot {
	s.Rejected = rejected
	return s
}
