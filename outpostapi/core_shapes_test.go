package outpostapi

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Newer cores send more than 2026.2 did: authentik 2026.8.1 added the
// capabilities can_request and can_agent_self_service and may send
// providers_obj[*].authorization_flow and invalidation_flow as null; a
// 2026.11 core may add values and fields this outpost has never seen. The
// outpost must serve all of them, and a provider it cannot read is left
// out and named while the rest serve.

// rootConfigShape is a root config as a core of that generation sends it.
func rootConfigShape(capabilities ...any) map[string]any {
	return map[string]any{
		"error_reporting": map[string]any{"enabled": false, "sentry_dsn": nil, "environment": "", "send_pii": false, "traces_sample_rate": 0.0},
		"capabilities":    capabilities, "cache_timeout": 300, "cache_timeout_flows": 300, "cache_timeout_policies": 300,
	}
}

// nullFlows gives each providers_obj entry null flows, as 2026.8.1 may.
func nullFlows(m map[string]any) {
	m["providers"] = []int{1, 2}
	m["providers_obj"] = []map[string]any{
		{"pk": 1, "name": "alpha", "authorization_flow": nil, "invalidation_flow": nil, "component": "ak-provider-proxy-form",
			"assigned_application_slug": "app-1", "assigned_application_name": "alpha", "assigned_backchannel_application_slug": nil,
			"assigned_backchannel_application_name": nil, "verbose_name": "Proxy Provider", "verbose_name_plural": "Proxy Providers", "meta_model_name": "authentik_providers_proxy.proxyprovider"},
		{"pk": 2, "name": "bravo", "authorization_flow": "e3b0c442-98fc-1c14-9afb-f4c8996fb924", "invalidation_flow": nil},
	}
}

func TestCoreSourceServesNewerCoreShapes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name            string
		rootConfig      map[string]any
		reshapeOutpost  func(m map[string]any)
		reshapeProvider func(i int, m map[string]any) any
		providers       string            // served, in order
		rejected        map[string]string // provider → field
	}{
		{
			name:       "2026.2",
			rootConfig: rootConfigShape("can_save_media", "can_geo_ip", "can_impersonate", "can_debug", "is_enterprise"),
			providers:  "alpha,bravo,charlie,delta",
		},
		{
			name:           "2026.8.1",
			rootConfig:     rootConfigShape("can_save_media", "can_geo_ip", "can_asn", "can_impersonate", "can_debug", "is_enterprise", "can_request", "can_agent_self_service"),
			reshapeOutpost: nullFlows,
			providers:      "alpha,bravo,charlie,delta",
		},
		{
			name: "2026.11 with values and fields never seen",
			rootConfig: func() map[string]any {
				m := rootConfigShape("can_request", "can_agent_self_service", "can_something_from_2027")
				m["brand"] = map[string]any{"flows": []any{nil, 1.5, "x"}}
				m["error_reporting"].(map[string]any)["new_rate"] = []any{}
				return m
			}(),
			reshapeOutpost: func(m map[string]any) {
				nullFlows(m)
				m["service_connection_obj"] = map[string]any{"kind": "docker", "new": true}
				m["config"].(map[string]any)["a_2026_11_setting"] = map[string]any{"nested": nil}
				m["managed"] = nil
			},
			reshapeProvider: func(i int, m map[string]any) any {
				// Optional fields as null, and new fields of every JSON type.
				m["certificate"], m["access_token_validity"], m["cookie_domain"] = nil, nil, nil
				m["scopes_to_request"], m["assigned_application_slug"] = nil, nil
				m["new_string"], m["new_number"], m["new_bool"], m["new_null"] = "x", 12.5, true, nil
				m["new_list"], m["new_object"] = []any{1, "two", nil}, map[string]any{"a": map[string]any{}}
				m["oidc_configuration"].(map[string]any)["new_metadata"] = []string{"dpop"}
				return m
			},
			providers: "alpha,bravo,charlie,delta",
		},
		{
			name:           "2026.11 with providers this outpost cannot read",
			rootConfig:     rootConfigShape("can_request", 42, map[string]any{"capability": "as an object"}),
			reshapeOutpost: nullFlows,
			reshapeProvider: func(i int, m map[string]any) any {
				switch i {
				case 1: // a bool sent as a string
					m["internal_host_ssl_validation"] = "true"
				case 2: // an enum value from the future
					m["mode"] = "forward_everything"
				case 3: // a nested value of the wrong type
					m["oidc_configuration"].(map[string]any)["issuer"] = map[string]any{"url": "https://auth.example.com/"}
				case 4: // not an object at all
					return "provider five"
				}
				return m
			},
			providers: "alpha,echo",
			rejected: map[string]string{
				"bravo": "internal_host_ssl_validation", "charlie": "mode",
				"delta": "oidc_configuration.issuer", "#5": "(provider)",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			core := newFakeCore(t)
			core.providers = []ProxyOutpostConfig{
				testProvider(1, "alpha", "alpha.example.com"), testProvider(2, "bravo", "bravo.example.com"),
				testProvider(3, "charlie", "charlie.example.com"), testProvider(4, "delta", "delta.example.com"),
			}
			if tc.rejected != nil {
				core.providers = append(core.providers, testProvider(5, "foxtrot", "foxtrot.example.com"), testProvider(6, "echo", "echo.example.com"))
			}
			core.rootConfig, core.reshapeOutpost, core.reshapeProvider = tc.rootConfig, tc.reshapeOutpost, tc.reshapeProvider
			core.start("127.0.0.1:0")
			r := startSource(t, testEnv(t, core.url(), fakeToken), CoreOptions{})
			s := r.snapshot(t, 10*time.Second)

			if got := strings.Join(providerNames(s), ","); got != tc.providers {
				t.Errorf("providers served = %s, want %s", got, tc.providers)
			}
			rejected := map[string]string{}
			for _, e := range s.Rejected {
				rejected[e.Provider] = e.Field
			}
			if want := tc.rejected; !reflectEqual(rejected, want) && (len(want) > 0 || len(rejected) > 0) {
				t.Errorf("rejected = %v, want %v", rejected, want)
			}
			// cmd/outpost's configReport logs each of them (TestConfigReport).
			for _, e := range s.Rejected {
				if e.Err == "" {
					t.Errorf("provider %s left out without a reason", e.Provider)
				}
			}
			logs := r.logs.String()
			if strings.Contains(logs, "root config") {
				t.Errorf("the root config was not read:\n%s", logs)
			}

			// The full outpost list, providers_obj included, decodes too,
			// and every capability sent as a string is kept, known or not.
			client := NewClient(testEnv(t, core.url(), fakeToken), "2026.2.2", "")
			outs, err := client.Outposts(context.Background())
			if err != nil || len(outs) != 1 || outs[0].PK != fakeOutpostPK {
				t.Errorf("Outposts() = %+v, %v", outs, err)
			}
			rc, err := client.RootConfig(context.Background())
			var want []string
			for _, c := range tc.rootConfig["capabilities"].([]any) {
				if s, ok := c.(string); ok {
					want = append(want, s)
				}
			}
			if err != nil || strings.Join(rc.Capabilities, ",") != strings.Join(want, ",") {
				t.Errorf("RootConfig() capabilities = %q, %v; want %q", rc.Capabilities, err, want)
			}
		})
	}
}
