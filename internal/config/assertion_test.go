package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/assertion"
)

func TestAssertionSettings(t *testing.T) {
	load := func(vars map[string]string) (Env, error) {
		return Load(func(k string) (string, bool) { v, ok := vars[k]; return v, ok }, false)
	}
	env, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if a := env.Proxy.Assertion; a.Defaults.Enabled || a.Defaults.Header != assertion.DefaultHeader || a.Defaults.Alg != assertion.ES256 ||
		a.Rotate != assertion.DefaultRotate || a.Lifetime != assertion.DefaultLifetime {
		t.Errorf("defaults %+v", a)
	}
	env, err = load(map[string]string{"OUTPOST_ASSERTION__ENABLED": "true", "OUTPOST_ASSERTION__HEADER": "x-app-assertion",
		"OUTPOST_ASSERTION__ALG": "rs256", "OUTPOST_ASSERTION__ROTATE": "1h", "OUTPOST_ASSERTION__LIFETIME": "2m"})
	if err != nil {
		t.Fatal(err)
	}
	if a := env.Proxy.Assertion; !a.Defaults.Enabled || a.Defaults.Header != "X-App-Assertion" || a.Defaults.Alg != assertion.RS256 ||
		a.Rotate != time.Hour || a.Lifetime != 2*time.Minute {
		t.Errorf("set %+v", a)
	}
	for _, c := range []struct{ name, value, want string }{
		{"OUTPOST_ASSERTION__ENABLED", "maybe", "OUTPOST_ASSERTION__ENABLED"},
		{"OUTPOST_ASSERTION__HEADER", "X_Assertion", "OUTPOST_ASSERTION__HEADER"},
		{"OUTPOST_ASSERTION__HEADER", "X-Authentik-Assertion", "OUTPOST_ASSERTION__HEADER"},
		{"OUTPOST_ASSERTION__HEADER", "Authorization", "OUTPOST_ASSERTION__HEADER"},
		{"OUTPOST_ASSERTION__ALG", "HS256", "OUTPOST_ASSERTION__ALG"},
		{"OUTPOST_ASSERTION__LIFETIME", "1h", "OUTPOST_ASSERTION__LIFETIME"},
		{"OUTPOST_ASSERTION__ROTATE", "6m", "OUTPOST_ASSERTION__ROTATE"},
		{"OUTPOST_ASSERTION__ROTATE", "soon", "OUTPOST_ASSERTION__ROTATE"},
	} {
		t.Run(c.name+"="+c.value, func(t *testing.T) {
			_, err := load(map[string]string{c.name: c.value})
			if err == nil || !strings.Contains(err.Error(), c.want+":") {
				t.Errorf("error %v, want one naming %s", err, c.want)
			}
		})
	}
}

func TestAssertionKeyFileSetting(t *testing.T) {
	load := func(vars map[string]string) (Env, error) {
		return Load(func(k string) (string, bool) { v, ok := vars[k]; return v, ok }, false)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "keys.pem")
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env, err := load(map[string]string{"OUTPOST_ASSERTION__KEY_FILE": good})
	if err != nil || env.Proxy.Assertion.KeyFile != good {
		t.Fatalf("a good key file: %v, %+v", err, env.Proxy.Assertion)
	}
	for _, c := range []struct {
		name string
		vars map[string]string
		want string
	}{
		{"missing file", map[string]string{"OUTPOST_ASSERTION__KEY_FILE": filepath.Join(dir, "nope.pem")}, "OUTPOST_ASSERTION__KEY_FILE: open"},
		{"not a key", map[string]string{"OUTPOST_ASSERTION__KEY_FILE": bad}, "OUTPOST_ASSERTION__KEY_FILE: block 1 (CERTIFICATE)"},
		{"with a rotation period", map[string]string{"OUTPOST_ASSERTION__KEY_FILE": good, "OUTPOST_ASSERTION__ROTATE": "24h"}, "OUTPOST_ASSERTION__ROTATE: not with OUTPOST_ASSERTION__KEY_FILE"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := load(c.vars)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one with %q", err, c.want)
			}
		})
	}
}
