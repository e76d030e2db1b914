package config

import (
	"net/http"
	"strings"
	"time"

	"github.com/outpost-dev/outpost/assertion"
	"github.com/outpost-dev/outpost/proxy"
)

// loadAssertion reads OUTPOST_ASSERTION__*: the signed identity assertion's
// defaults (every provider of a core; a standalone provider without its
// own assertion block) and its key rotation (docs/identity-assertion.md).
func loadAssertion(get func(string) (string, bool), fail func(name, format string, args ...any)) proxy.AssertionOptions {
	o := proxy.AssertionOptions{Defaults: assertion.Defaults(), Rotate: assertion.DefaultRotate, Lifetime: assertion.DefaultLifetime}
	if v, ok := get("OUTPOST_ASSERTION__ENABLED"); ok {
		b, err := ParseEnvBool(v)
		if err != nil {
			fail("OUTPOST_ASSERTION__ENABLED", "%v", err)
		}
		o.Defaults.Enabled = b
	}
	if v, ok := get("OUTPOST_ASSERTION__HEADER"); ok {
		if err := assertion.CheckHeaderName(v); err != nil {
			fail("OUTPOST_ASSERTION__HEADER", "%v", err)
		}
		o.Defaults.Header = http.CanonicalHeaderKey(v)
	}
	if v, ok := get("OUTPOST_ASSERTION__ALG"); ok {
		alg := strings.ToUpper(v)
		if err := assertion.CheckAlg(alg); err != nil {
			fail("OUTPOST_ASSERTION__ALG", "%v", err)
		}
		o.Defaults.Alg = alg
	}
	timing := func(name string, into *time.Duration) bool {
		v, ok := get(name)
		if !ok {
			return true
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			fail(name, "want a positive duration such as 24h or 5m, got %q", v)
			return false
		}
		*into = d
		return true
	}
	if v, ok := get("OUTPOST_ASSERTION__KEY_FILE"); ok && v != "" {
		if err := assertion.CheckKeyFile(v); err != nil {
			fail("OUTPOST_ASSERTION__KEY_FILE", "%v", err)
		}
		if _, set := get("OUTPOST_ASSERTION__ROTATE"); set {
			fail("OUTPOST_ASSERTION__ROTATE", "not with OUTPOST_ASSERTION__KEY_FILE: the file's keys change when the file does (docs/identity-assertion.md)")
		}
		o.KeyFile = v
	}
	okRotate := timing("OUTPOST_ASSERTION__ROTATE", &o.Rotate)
	okLifetime := timing("OUTPOST_ASSERTION__LIFETIME", &o.Lifetime)
	if okRotate && okLifetime {
		if err := assertion.CheckTiming(o.Rotate, o.Lifetime); err != nil {
			name := "OUTPOST_ASSERTION__ROTATE"
			if o.Lifetime < assertion.MinLifetime || o.Lifetime > assertion.MaxLifetime {
				name = "OUTPOST_ASSERTION__LIFETIME"
			}
			fail(name, "%v", err)
		}
	}
	return o
}
