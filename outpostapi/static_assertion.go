package outpostapi

import (
	"net/http"
	"strings"

	"github.com/outpost-dev/outpost/assertion"
)

// StaticAssertion is a standalone provider's assertion block:
//
//	assertion:
//	  enabled: true
//	  header: X-Outpost-Jwt-Assertion   # the default
//	  alg: ES256                        # or RS256
type StaticAssertion struct {
	Enabled bool   `yaml:"enabled"`
	Header  string `yaml:"header"`
	Alg     string `yaml:"alg"`
}

// settings are the block's settings with defaults filled in, or the field
// at fault and why.
func (a StaticAssertion) settings() (assertion.Settings, string, error) {
	set := assertion.Defaults()
	set.Enabled = a.Enabled
	if h := strings.TrimSpace(a.Header); h != "" {
		if err := assertion.CheckHeaderName(h); err != nil {
			return set, "header", err
		}
		set.Header = http.CanonicalHeaderKey(h)
	}
	if alg := strings.TrimSpace(a.Alg); alg != "" {
		if err := assertion.CheckAlg(strings.ToUpper(alg)); err != nil {
			return set, "alg", err
		}
		set.Alg = strings.ToUpper(alg)
	}
	return set, "", nil
}
