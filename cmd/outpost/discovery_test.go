package main

import (
	"fmt"
	"github.com/outpost-dev/outpost/internal/testissuer"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func issuerYAML(issuer string) string {
	return fmt.Sprintf(`outpost:
  name: discovery-test
providers:
  - name: toy
    external_host: http://toy.test
    internal_host: http://127.0.0.1:1
    issuer: %s
    client_id: toy
    client_secret: s
    cookie_secret: 0123456789abcdef
`, issuer)
}

// Issue 22, item 2, as an operator sees it: started with an issuer that is
// down, the outpost says so in its log (provider and URL), in readiness and
// in a metric, and recovers when the issuer comes up, without a restart; a
// reload with a wrong issuer likewise.
func TestUnreachableIssuerAtStartUp(t *testing.T) {
	issAddr := freeAddr(t)
	wellKnown := "http://" + issAddr + "/.well-known/openid-configuration"
	cfg := filepath.Join(t.TempDir(), "providers.yaml")
	if err := os.WriteFile(cfg, []byte(issuerYAML("http://"+issAddr)), 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr, metricsAddr := freeAddr(t), freeAddr(t)
	p := start(t, []string{"AUTHENTIK_LISTEN__HTTP=" + httpAddr, "AUTHENTIK_LISTEN__METRICS=" + metricsAddr}, "--config", cfg)
	line := p.waitFor(t, "OIDC discovery failed", 30*time.Second)
	if !strings.Contains(line, "toy") || !strings.Contains(line, wellKnown) {
		t.Errorf("the log line does not name the provider and the URL: %s", line)
	}
	waitHTTP(t, "http://"+metricsAddr+"/outpost.goauthentik.io/ping")

	ready := "http://" + metricsAddr + "/outpost.goauthentik.io/ready"
	for _, tc := range []struct {
		name, url string
		code      int
		want      string
	}{
		{"outpost", ready, 200, `provider "toy" not ready`},
		{"provider", ready + "?provider=toy", 503, wellKnown},
		{"main listener", "http://" + httpAddr + "/outpost.goauthentik.io/ready?provider=toy", 503, wellKnown},
	} {
		t.Run("down: "+tc.name, func(t *testing.T) {
			if code, body := get(t, tc.url, ""); code != tc.code || !strings.Contains(body, tc.want) {
				t.Errorf("%s: %d %q, want %d with %q", tc.url, code, body, tc.code, tc.want)
			}
		})
	}
	if _, text := get(t, "http://"+metricsAddr+"/metrics", ""); !strings.Contains(text, "\noutpost_provider_ready{provider=\"toy\"} 0\n") {
		t.Errorf("the metric does not say toy is not ready:\n%s", grepLines(text, "outpost_provider_ready"))
	}

	testissuer.ServeDiscoveryAt(t, issAddr)
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _ := get(t, ready+"?provider=toy", "")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("toy never became ready after its issuer came up")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, body := get(t, ready, ""); code != 200 || body != "ready\n" {
		t.Errorf("readiness after recovery: %d %q", code, body)
	}
	if _, text := get(t, "http://"+metricsAddr+"/metrics", ""); !strings.Contains(text, "\noutpost_provider_ready{provider=\"toy\"} 1\n") {
		t.Errorf("the metric after recovery:\n%s", grepLines(text, "outpost_provider_ready"))
	}
	if code, loc := get(t, "http://"+httpAddr+"/outpost.goauthentik.io/start", "toy.test"); code != 302 || !strings.HasPrefix(loc, "http://"+issAddr+"/authorize?") {
		t.Errorf("sign-in after recovery: %d %s", code, loc)
	}

	// A reload with a wrong issuer.
	wrongAddr := freeAddr(t)
	if err := os.WriteFile(cfg, []byte(issuerYAML("http://"+wrongAddr)), 0o600); err != nil {
		t.Fatal(err)
	}
	line = p.waitFor(t, "OIDC discovery failed", 30*time.Second)
	if !strings.Contains(line, "toy") || !strings.Contains(line, wrongAddr) {
		t.Errorf("the reload's log line does not name the provider and the new URL: %s", line)
	}
	// The discovery's line comes while the new configuration is being
	// built, before it is put in force: readiness follows within moments.
	deadline = time.Now().Add(5 * time.Second)
	for {
		code, body := get(t, ready+"?provider=toy", "")
		if code == 503 && strings.Contains(body, wrongAddr) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readiness after a reload with a wrong issuer: %d %q", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
