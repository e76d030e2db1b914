package outpostapi

import (
	"strings"
	"testing"
)

// Which upgrades a proxy-mode provider allows: websocket unless the
// environment (every provider) or the provider's allowed_upgrades (one
// standalone provider) says otherwise; a malformed entry is an error
// naming the variable, or the line and the field.
func TestAllowedUpgradesSettings(t *testing.T) {
	lookup := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	for _, tc := range []struct{ value, want string }{
		{"", "websocket"}, // unset
		{"websocket, SPDY/3.1", "websocket|SPDY/3.1"},
		{"none", ""},
		{"NONE", ""},
	} {
		m := map[string]string{}
		if tc.value != "" {
			m["OUTPOST_PROXY__ALLOWED_UPGRADES"] = tc.value
		}
		env, err := LoadEnv(lookup(m), false)
		if err != nil {
			t.Fatalf("%q: %v", tc.value, err)
		}
		if got := strings.Join(env.AllowedUpgrades, "|"); got != tc.want {
			t.Errorf("OUTPOST_PROXY__ALLOWED_UPGRADES=%q read as %q, want %q", tc.value, got, tc.want)
		}
	}
	for _, bad := range []string{"web socket", "websocket,", "h2c/", "a;b"} {
		_, err := LoadEnv(lookup(map[string]string{"OUTPOST_PROXY__ALLOWED_UPGRADES": bad}), false)
		if err == nil || !strings.Contains(err.Error(), "OUTPOST_PROXY__ALLOWED_UPGRADES") {
			t.Errorf("%q: %v, want an error naming the variable", bad, err)
		}
	}

	dir := t.TempDir()
	writeFile(t, dir+"/am.secret", "x")
	withUpgrades := func(list string) string {
		return strings.Replace(goodStatic, "    client_id: prom\n", "    client_id: prom\n    allowed_upgrades: "+list+"\n", 1)
	}
	snap, err := ParseStatic([]byte(goodStatic), dir)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Providers[0].AllowedUpgrades != nil {
		t.Errorf("unset allowed_upgrades read as %q, want nil (the outpost's default)", snap.Providers[0].AllowedUpgrades)
	}
	for list, want := range map[string]string{"[websocket, SPDY/3.1]": "websocket|SPDY/3.1", "[]": ""} {
		snap, err := ParseStatic([]byte(withUpgrades(list)), dir)
		if err != nil {
			t.Fatalf("%s: %v", list, err)
		}
		if got := snap.Providers[0].AllowedUpgrades; got == nil || strings.Join(got, "|") != want {
			t.Errorf("allowed_upgrades: %s read as %q, want %q", list, got, want)
		}
	}
	_, err = ParseStatic([]byte(withUpgrades("[websocket, 'h2c tunnel']")), dir)
	if err == nil || !strings.Contains(err.Error(), "line 10") || !strings.Contains(err.Error(), "allowed_upgrades") {
		t.Errorf("a bad protocol: %v, want the line and the field", err)
	}
}
