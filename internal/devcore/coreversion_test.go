package devcore

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// withCoreVersion is baseYAML with a top-level core_version line (none for
// "").
func withCoreVersion(line string) string {
	if line == "" {
		return baseYAML
	}
	return line + "\n" + baseYAML
}

func TestCoreVersionSetting(t *testing.T) {
	for _, tc := range []struct {
		name, line, want string
	}{
		{"default", "", "2026.2"},
		{"2026.2", `core_version: "2026.2"`, "2026.2"},
		{"2026.8", `core_version: "2026.8"`, "2026.8"},
		{"2026.11", `core_version: "2026.11"`, "2026.11"},
		// Unquoted, YAML reads a float, but the field keeps the text.
		{"2026.11 unquoted", `core_version: 2026.11`, "2026.11"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustParse(t, withCoreVersion(tc.line)).CoreVersion; got != tc.want {
				t.Errorf("core_version %q, want %q", got, tc.want)
			}
		})
	}
	for _, tc := range []struct{ value, want string }{
		{`"2026.9"`, `line 2: core_version: "2026.9": want one of 2026.2, 2026.8, 2026.11`},
		{`"2026.8.1"`, `line 2: core_version: "2026.8.1": want one of 2026.2, 2026.8, 2026.11`},
		{`"2026.2 "`, `line 2: core_version: "2026.2 ": want one of 2026.2, 2026.8, 2026.11`},
		{`latest`, `line 2: core_version: "latest": want one of 2026.2, 2026.8, 2026.11`},
		// A value YAML cannot read: the parser's error, with its line.
		{`[2026.8]`, `line 2: cannot unmarshal !!seq into string`},
	} {
		t.Run("refused "+tc.value, func(t *testing.T) {
			_, err := ParseConfig([]byte("listen: 127.0.0.1:0\ncore_version: " + tc.value + baseYAML))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// What an outpost reads differs by release: the providers' flows of the
// outposts list, and the capabilities of the root config.
func TestCoreVersionShapes(t *testing.T) {
	base := []string{"can_save_media", "can_impersonate", "is_enterprise"}
	with2026_8 := append(append([]string{}, base...), "can_request", "can_agent_self_service")
	for _, tc := range []struct {
		version      string
		nullFlows    bool
		capabilities []string
	}{
		{"2026.2", false, base},
		{"2026.8", true, with2026_8},
		{"2026.11", true, with2026_8},
	} {
		t.Run(tc.version, func(t *testing.T) {
			core := startCore(t, mustParse(t, withCoreVersion(`core_version: "`+tc.version+`"`)))
			m := getJSON(t, core.url("/api/v3/outposts/instances/"), tokenA, 200)
			objs := m["results"].([]any)[0].(map[string]any)["providers_obj"].([]any)
			if len(objs) != 2 {
				t.Fatalf("providers_obj: %v", objs)
			}
			for _, o := range objs {
				p := o.(map[string]any)
				requireKeys(t, "Provider", p, "authorization_flow", "invalidation_flow")
				for _, k := range []string{"authorization_flow", "invalidation_flow"} {
					v := p[k]
					if tc.nullFlows {
						if v != nil {
							t.Errorf("%s %s = %#v, want null", p["name"], k, v)
						}
						continue
					}
					s, _ := v.(string)
					if id, err := uuid.Parse(s); err != nil || id.String() != s {
						t.Errorf("%s %s = %#v, want a dashed UUID", p["name"], k, v)
					}
				}
			}
			var got []string
			for _, c := range getJSON(t, core.url("/api/v3/root/config/"), tokenA, 200)["capabilities"].([]any) {
				got = append(got, c.(string))
			}
			if !reflect.DeepEqual(got, tc.capabilities) {
				t.Errorf("capabilities %q, want %q", got, tc.capabilities)
			}
		})
	}
}

// outpostFlow is the authorization_flow of outpost A's first provider as
// served.
func outpostFlow(t *testing.T, core *testCore) any {
	t.Helper()
	m := getJSON(t, core.url("/api/v3/outposts/instances/"), tokenA, 200)
	return m["results"].([]any)[0].(map[string]any)["providers_obj"].([]any)[0].(map[string]any)["authorization_flow"]
}

// Options.CoreVersion (the --core-version flag) wins over the file, on
// every configuration put in force, and leaves the caller's Config alone.
func TestCoreVersionOption(t *testing.T) {
	cfg := mustParse(t, withCoreVersion(`core_version: "2026.2"`))
	s, err := New(cfg, Options{Logger: testLogger(t), CoreVersion: "2026.8"})
	if err != nil {
		t.Fatal(err)
	}
	core := serveCore(t, s)
	if f := outpostFlow(t, core); f != nil {
		t.Errorf("flow %#v, want null", f)
	}
	if cfg.CoreVersion != "2026.2" || cfg.release.nullFlows {
		t.Errorf("the caller's configuration changed: %q", cfg.CoreVersion)
	}
	if err := s.SetConfig(mustParse(t, baseYAML)); err != nil {
		t.Fatal(err)
	}
	if f := outpostFlow(t, core); f != nil {
		t.Errorf("after SetConfig, flow %#v, want null", f)
	}

	if _, err := New(mustParse(t, baseYAML), Options{CoreVersion: "2026.9"}); err == nil ||
		err.Error() != `devcore: core version "2026.9": want one of 2026.2, 2026.8, 2026.11` {
		t.Errorf("bad option: %v", err)
	}
}

// Speaking as another release changes what outposts read: they are told to
// refresh.
func TestCoreVersionChangeTriggersUpdate(t *testing.T) {
	core := startCore(t, mustParse(t, baseYAML))
	ws := mustDialWS(t, core.addr, pkA, tokenA, "a1")
	waitFor(t, "the connection", 5*time.Second, func() bool {
		core.ctl.mu.Lock()
		defer core.ctl.mu.Unlock()
		return len(core.ctl.conns) == 1
	})
	if err := core.SetConfig(mustParse(t, withCoreVersion(`core_version: "2026.8"`))); err != nil {
		t.Fatal(err)
	}
	if got := readFrame(t, ws, 5*time.Second); got != string(frameTriggerUpdate) {
		t.Errorf("after the version change: %s", got)
	}
	// 2026.8 and 2026.11 serve the same: nothing to refresh.
	if err := core.SetConfig(mustParse(t, withCoreVersion(`core_version: "2026.11"`))); err != nil {
		t.Fatal(err)
	}
	expectNoFrame(t, ws, 300*time.Millisecond)
}
