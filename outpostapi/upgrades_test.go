package outpostapi

import (
	"strings"
	"testing"
)

// Which upgrades a standalone provider allows: the outpost's default
// unless its allowed_upgrades says otherwise (the environment's part is
// internal/config's TestAllowedUpgradesEnv); a malformed entry is an error
// naming the line and the field.
func TestAllowedUpgradesSettings(t *testing.T) {
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
		t.Run(list, func(t *testing.T) {
			snap, err := ParseStatic([]byte(withUpgrades(list)), dir)
			if err != nil {
				t.Fatalf("%s: %v", list, err)
			}
			if got := snap.Providers[0].AllowedUpgrades; got == nil || strings.Join(got, "|") != want {
				t.Errorf("allowed_upgrades: %s read as %q, want %q", list, got, want)
			}
		})
	}
	_, err = ParseStatic([]byte(withUpgrades("[websocket, 'h2c tunnel']")), dir)
	if err == nil || !strings.Contains(err.Error(), "line 10") || !strings.Contains(err.Error(), "allowed_upgrades") {
		t.Errorf("a bad protocol: %v, want the line and the field", err)
	}
}
