package devcore

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// As a 2026.8+ core the devcore honours X-Forwarded-Proto only from its
// trusted proxies; as 2026.2 from anyone. The issuer it names in discovery
// (and in tokens) shows which scheme it believed.
func TestForwardedProtoOnlyFromTrustedPeersAs2026_8(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version string
		trusted []string
		want    string // scheme of the issuer, with X-Forwarded-Proto: https
	}{
		{"2026.2 honours it from anyone", "2026.2", []string{"10.0.0.0/8"}, "https"},
		{"2026.8 from a trusted peer (the default ranges hold loopback)", "2026.8", nil, "https"},
		{"2026.8 from an untrusted peer", "2026.8", []string{"10.0.0.0/8"}, "http"},
		{"2026.11 from an untrusted peer", "2026.11", []string{"192.168.0.0/16", "fd00::/8"}, "http"},
		{"2026.8 with nobody trusted", "2026.8", []string{}, "http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.CoreVersion, cfg.TrustedProxyCIDRs = tc.version, tc.trusted
			core, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(core.Handler())
			defer srv.Close()
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/application/o/app/.well-known/openid-configuration", nil)
			req.Host = "auth.example.com"
			req.Header.Set("X-Forwarded-Proto", "https")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var doc struct {
				Issuer string `json:"issuer"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
				t.Fatal(err)
			}
			if want := tc.want + "://auth.example.com/application/o/app/"; doc.Issuer != want {
				t.Errorf("issuer = %q, want %q", doc.Issuer, want)
			}
		})
	}
}

func TestTrustedProxyCIDRsRefusedNamingTheLine(t *testing.T) {
	_, err := ParseConfig([]byte(`core_version: "2026.8"
trusted_proxy_cidrs: [10.0.0.0/8, "not-a-cidr"]
providers:
  - name: app
    external_host: https://app.example.com
    client_id: app
    client_secret: app-secret-0123456789abcdef0123456789
    cookie_secret: cookie-secret-0123456789
`))
	if err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "trusted_proxy_cidrs") || !strings.Contains(err.Error(), "not-a-cidr") {
		t.Errorf("error = %v, want one naming line 2, trusted_proxy_cidrs and the value", err)
	}
}
