package config

import (
	"strings"
	"testing"
)

// OUTPOST_PROXY__PROTECTED_RESOURCE_METADATA: unset leaves the data
// plane's default (proxy.DefaultProtectedResourceMetadata), a boolean sets
// it for every provider without its own, anything else names the variable.
func TestProtectedResourceMetadataEnv(t *testing.T) {
	lookup := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	for _, tc := range []struct{ value, want string }{
		{"", "default"},
		{"false", "false"},
		{"no", "false"},
		{"TRUE", "true"},
	} {
		t.Run(tc.value, func(t *testing.T) {
			m := map[string]string{}
			if tc.value != "" {
				m["OUTPOST_PROXY__PROTECTED_RESOURCE_METADATA"] = tc.value
			}
			env, err := Load(lookup(m), false)
			if err != nil {
				t.Fatal(err)
			}
			got := "default"
			if p := env.Proxy.ProtectedResourceMetadata; p != nil {
				got = map[bool]string{true: "true", false: "false"}[*p]
			}
			if got != tc.want {
				t.Errorf("%q read as %s, want %s", tc.value, got, tc.want)
			}
		})
	}
	_, err := Load(lookup(map[string]string{"OUTPOST_PROXY__PROTECTED_RESOURCE_METADATA": "off"}), false)
	if err == nil || !strings.Contains(err.Error(), "OUTPOST_PROXY__PROTECTED_RESOURCE_METADATA") {
		t.Errorf("off: %v, want an error naming the variable", err)
	}
}
