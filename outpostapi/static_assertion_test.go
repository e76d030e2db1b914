package outpostapi

import (
	"strings"
	"testing"
)

func TestStaticAssertion(t *testing.T) {
	const base = `providers:
  - name: app
    external_host: https://app.example.com
    internal_host: http://127.0.0.1:8080
    issuer: https://issuer.example.com
    client_id: app
    client_secret: secret
    cookie_secret: 0123456789abcdef0123
`
	snap, err := ParseStatic([]byte(base+"    assertion:\n      enabled: true\n      header: x-app-jwt\n      alg: rs256\n"), ".")
	if err != nil {
		t.Fatal(err)
	}
	if a := snap.Providers[0].Assertion; a == nil || !a.Enabled || a.Header != "X-App-Jwt" || a.Alg != "RS256" {
		t.Errorf("assertion %+v", a)
	}
	snap, err = ParseStatic([]byte(base), ".")
	if err != nil || snap.Providers[0].Assertion != nil {
		t.Errorf("without a block: %v, %+v (want the outpost's default)", err, snap.Providers[0].Assertion)
	}
	for _, c := range []struct{ name, block, want string }{
		{"header", "    assertion:\n      enabled: true\n      header: X_App\n", "line 11: provider \"app\": assertion.header:"},
		{"alg", "    assertion:\n      enabled: true\n      alg: HS256\n", "line 11: provider \"app\": assertion.alg:"},
		{"unknown field", "    assertion:\n      enable: true\n", "line 10"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseStatic([]byte(base+c.block), ".")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}
