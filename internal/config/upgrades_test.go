package config

import (
	"strings"
	"testing"
)

// Which upgrades a proxy-mode provider allows: websocket unless the
// environment (every provider) says otherwise (a standalone provider's
// allowed_upgrades: outpostapi's TestAllowedUpgradesSettings); a malformed
// entry is an error naming the variable.
func TestAllowedUpgradesEnv(t *testing.T) {
	lookup := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	for _, tc := range []struct{ value, want string }{
		{"", "websocket"}, // unset
		{"websocket, SPDY/3.1", "websocket|SPDY/3.1"},
		{"none", ""},
		{"NONE", ""},
	} {
		t.Run(tc.value, func(t *testing.T) {
			m := map[string]string{}
			if tc.value != "" {
				m["OUTPOST_PROXY__ALLOWED_UPGRADES"] = tc.value
			}
			env, err := Load(lookup(m), false)
			if err != nil {
				t.Fatalf("%q: %v", tc.value, err)
			}
			if got := strings.Join(env.Proxy.AllowedUpgrades, "|"); got != tc.want {
				t.Errorf("OUTPOST_PROXY__ALLOWED_UPGRADES=%q read as %q, want %q", tc.value, got, tc.want)
			}
		})
	}
	for _, bad := range []string{"web socket", "websocket,", "h2c/", "a;b"} {
		t.Run(bad, func(t *testing.T) {
			_, err := Load(lookup(map[string]string{"OUTPOST_PROXY__ALLOWED_UPGRADES": bad}), false)
			if err == nil || !strings.Contains(err.Error(), "OUTPOST_PROXY__ALLOWED_UPGRADES") {
				t.Errorf("%q: %v, want an error naming the variable", bad, err)
			}
		})
	}
}
