package outpostapi_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/outpostapi"
)

// dcGet decodes a devcore API response as the outpost of dcConfig reads it.
func dcGet(t *testing.T, c *dcCore, path string, v any) {
	t.Helper()
	if err := json.Unmarshal(c.admin(t, http.MethodGet, path, ""), v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// CoreSource loads and follows a devcore speaking as each core release it
// can: a 2026.8+ core sends null flows and capabilities a 2026.2 client
// does not know.
func TestDevcoreEndToEndPerCoreVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		version   string
		nullFlows bool
	}{
		{"2026.2", false},
		{"2026.8", true},
		{"2026.11", true},
	} {
		t.Run(tc.version, func(t *testing.T) {
			t.Parallel()
			core := startDevcoreAs(t, dcConfig(t, dcToken, "alpha", "beta"), "127.0.0.1:0", tc.version)

			// What the wire carries, so that the outpost is known to have
			// read it.
			var list struct {
				Results []struct {
					ProvidersObj []map[string]any `json:"providers_obj"`
				} `json:"results"`
			}
			dcGet(t, core, "/api/v3/outposts/instances/", &list)
			if len(list.Results) != 1 || len(list.Results[0].ProvidersObj) != 2 {
				t.Fatalf("outposts list: %+v", list)
			}
			for _, p := range list.Results[0].ProvidersObj {
				if isNull := p["authorization_flow"] == nil && p["invalidation_flow"] == nil; isNull != tc.nullFlows {
					t.Errorf("provider %v: flows %v %v, null %t", p["name"], p["authorization_flow"], p["invalidation_flow"], tc.nullFlows)
				}
			}
			var root outpostapi.RootConfig
			dcGet(t, core, "/api/v3/root/config/", &root)
			if slices.Contains(root.Capabilities, "can_request") != tc.nullFlows {
				t.Errorf("capabilities %q", root.Capabilities)
			}

			r := startE2E(t, "http://"+core.addr+"/", dcToken)
			s := r.snapshotWith(t, 10*time.Second, "alpha", "beta")
			if s.Outpost.PK != dcPK || s.Providers[0].OIDCConfiguration.TokenEndpoint == "" || s.Providers[0].Certificate == nil {
				t.Errorf("snapshot: outpost %+v, alpha %+v", s.Outpost, s.Providers[0])
			}
			r.waitConn(t, true, 10*time.Second)
			// A change reaches it through TRIGGER_UPDATE.
			if err := core.SetConfig(dcConfig(t, dcToken, "alpha", "beta", "gamma")); err != nil {
				t.Fatal(err)
			}
			r.snapshotWith(t, outpostapi.DefaultTriggerDelayMax+5*time.Second, "alpha", "beta", "gamma")
		})
	}
}
