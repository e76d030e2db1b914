package authz

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Step-up (docs/step-up.md): a rule set may ask more of the sign-in behind
// a session than who signed in: that it happened recently (max_auth_age,
// read from the auth_time claim) or at a listed level (acr_values, read
// from the acr claim). A session that does not meet it is not refused: the
// person signs in again, asked for exactly that; a machine client gets
// RFC 9470's challenge.

// AuthTimeLeeway is the clock skew allowed between the identity provider
// (which writes auth_time) and the outpost: a sign-in counts as fresh for
// max_auth_age plus this, and an auth_time up to this far in the future is
// believed. Anything further in the future is not a sign-in at all.
const AuthTimeLeeway = 10 * time.Second

// StepUp is what a rule set asks of the sign-in. The zero value asks
// nothing.
type StepUp struct {
	// MaxAge is how old the sign-in may be (0: any age).
	MaxAge time.Duration
	// ACR lists the authentication levels that count (nil: any).
	ACR []string
	// Scope names the rule set for logs: "" for the provider's own rules,
	// else e.g. "paths[1] (prefix /admin)".
	Scope string
}

// Required reports whether s asks anything.
func (s StepUp) Required() bool { return s.MaxAge > 0 || len(s.ACR) > 0 }

// Unmet is why a sign-in made at authTime (zero: not known) with level acr
// does not meet s at now, or "" when it does. Unmet is named by the rule it
// fails (max_auth_age or acr_values) and a reason, for logs.
func (s StepUp) Unmet(authTime time.Time, acr string, now time.Time) (rule, reason string) {
	if s.MaxAge > 0 {
		switch {
		case authTime.IsZero():
			return "max_auth_age", "the sign-in has no auth_time"
		case authTime.After(now.Add(AuthTimeLeeway)):
			return "max_auth_age", "auth_time is in the future"
		case now.Sub(authTime) > s.MaxAge+AuthTimeLeeway:
			return "max_auth_age", fmt.Sprintf("signed in %s ago", now.Sub(authTime).Truncate(time.Second))
		}
	}
	if len(s.ACR) > 0 && !slices.Contains(s.ACR, acr) {
		if acr == "" {
			return "acr_values", "the sign-in has no acr"
		}
		return "acr_values", "acr " + acr + " not listed"
	}
	return "", ""
}

// StepUpFor is what the rule set that applies to method and path asks of
// a sign-in, whoever signs in: a sign-in started for that path asks for it
// at once rather than after. A nil Policy asks nothing.
func (p *Policy) StepUpFor(method, path string) StepUp {
	if p == nil {
		return StepUp{}
	}
	for _, pr := range p.paths {
		if pr.matches(method, path) {
			return pr.rules.stepUp
		}
	}
	return p.base.stepUp
}

// SignInOf reads what claims say of the sign-in: auth_time (seconds since
// the epoch, as JSON decodes it) and acr. A claim of another shape counts
// as absent.
func SignInOf(claims map[string]any) (authTime time.Time, acr string) {
	if t, ok := claims["auth_time"].(float64); ok && t > 0 {
		authTime = time.Unix(int64(t), 0)
	}
	acr, _ = claims["acr"].(string)
	return authTime, acr
}

// Merge is what meets both s and o: the shorter age, and the levels both
// accept. ok is false when no level is accepted by both.
func (s StepUp) Merge(o StepUp) (m StepUp, ok bool) {
	m = s
	if o.MaxAge > 0 && (m.MaxAge == 0 || o.MaxAge < m.MaxAge) {
		m.MaxAge = o.MaxAge
	}
	switch {
	case len(o.ACR) == 0:
	case len(m.ACR) == 0:
		m.ACR = o.ACR
	default:
		var both []string
		for _, v := range s.ACR {
			if slices.Contains(o.ACR, v) {
				both = append(both, v)
			}
		}
		if len(both) == 0 {
			return m, false
		}
		m.ACR = both
	}
	if m.Scope == "" {
		m.Scope = o.Scope
	}
	return m, true
}

// compileStepUp checks max_auth_age and acr_values of one rule set.
// max_age goes to the identity provider in whole seconds, and acr_values
// as one space-separated list.
func compileStepUp(prefix, scope string, r Rules) (StepUp, error) {
	s := StepUp{Scope: scope}
	if r.MaxAuthAge != nil {
		d := *r.MaxAuthAge
		switch {
		case d <= 0:
			return s, &Error{prefix + "max_auth_age", fmt.Sprintf("%s: must be positive, like 10m", d)}
		case d%time.Second != 0:
			return s, &Error{prefix + "max_auth_age", fmt.Sprintf("%s: must be whole seconds (max_age is sent in seconds)", d)}
		}
		s.MaxAge = d
	}
	if r.ACRValues != nil && len(r.ACRValues) == 0 {
		return s, &Error{prefix + "acr_values", "list at least one value"}
	}
	for i, v := range r.ACRValues {
		if v == "" || strings.ContainsFunc(v, func(c rune) bool { return c <= ' ' || c == 0x7f || c == '"' || c == '\\' }) {
			return s, &Error{fmt.Sprintf("%sacr_values[%d]", prefix, i), fmt.Sprintf("%q: must be one word without spaces or quotes", v)}
		}
		s.ACR = append(s.ACR, v)
	}
	return s, nil
}
