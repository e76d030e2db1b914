package authz

import (
	"errors"
	"slices"
	"testing"
	"time"
)

const stepUpPolicy = `
allowed_groups: [ops]
paths:
  - prefix: /admin
    allowed_groups: [ops]
    max_auth_age: 10m
  - prefix: /api/v2/silences
    methods: [POST]
    acr_values: [mfa, hwk]
`

// The rule set that applies carries its step-up; others ask nothing.
func TestEvaluateCarriesStepUp(t *testing.T) {
	p := compileYAML(t, stepUpPolicy)
	ops := claimsOf(t, `{"groups":["ops"]}`)
	for _, tc := range []struct {
		name, method, path string
		maxAge             time.Duration
		acr                []string
		scope              string
	}{
		{"admin", "GET", "/admin/users", 10 * time.Minute, nil, "paths[0] (prefix /admin)"},
		{"silence post", "POST", "/api/v2/silences", 0, []string{"mfa", "hwk"}, "paths[1] (prefix /api/v2/silences)"},
		{"silence get", "GET", "/api/v2/silences", 0, nil, ""},
		{"elsewhere", "GET", "/graph", 0, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := p.Evaluate(ops, tc.method, tc.path)
			if !res.Allowed {
				t.Fatalf("refused: %+v", res)
			}
			if res.StepUp.MaxAge != tc.maxAge || !slices.Equal(res.StepUp.ACR, tc.acr) || res.StepUp.Scope != tc.scope {
				t.Errorf("step-up %+v, want %s %v %q", res.StepUp, tc.maxAge, tc.acr, tc.scope)
			}
		})
	}
	// The group rule still decides first: a refusal is not a step-up.
	if res := p.Evaluate(claimsOf(t, `{"groups":["dev"]}`), "GET", "/admin"); res.Allowed || res.StepUp.Required() {
		t.Errorf("a refused identity got %+v", res)
	}
}

func TestStepUpUnmet(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := StepUp{MaxAge: 10 * time.Minute, ACR: []string{"mfa"}}
	for _, tc := range []struct {
		name     string
		authTime time.Time
		acr      string
		rule     string
	}{
		{"fresh with mfa", now.Add(-time.Minute), "mfa", ""},
		{"at the limit, within the leeway", now.Add(-10*time.Minute - AuthTimeLeeway), "mfa", ""},
		{"past the leeway", now.Add(-10*time.Minute - AuthTimeLeeway - time.Second), "mfa", "max_auth_age"},
		{"no auth_time", time.Time{}, "mfa", "max_auth_age"},
		{"slightly in the future", now.Add(AuthTimeLeeway), "mfa", ""},
		{"far in the future", now.Add(time.Hour), "mfa", "max_auth_age"},
		{"acr not listed", now, "pwd", "acr_values"},
		{"no acr", now, "", "acr_values"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rule, reason := s.Unmet(tc.authTime, tc.acr, now)
			if rule != tc.rule {
				t.Errorf("rule %q (%s), want %q", rule, reason, tc.rule)
			}
		})
	}
	if rule, _ := (StepUp{}).Unmet(time.Time{}, "", now); rule != "" {
		t.Errorf("the zero step-up asks something: %s", rule)
	}
}

// What JSON decodes is what is read; any other shape is absent.
func TestSignInOf(t *testing.T) {
	at, acr := SignInOf(claimsOf(t, `{"auth_time":1700000000,"acr":"mfa"}`))
	if at.Unix() != 1700000000 || acr != "mfa" {
		t.Errorf("read %v %q", at, acr)
	}
	at, acr = SignInOf(claimsOf(t, `{"auth_time":"1700000000","acr":["mfa"]}`))
	if !at.IsZero() || acr != "" {
		t.Errorf("a string auth_time or a list acr was read: %v %q", at, acr)
	}
}

func TestStepUpMerge(t *testing.T) {
	for _, tc := range []struct {
		name   string
		a, b   StepUp
		maxAge time.Duration
		acr    []string
		ok     bool
	}{
		{"shorter age wins", StepUp{MaxAge: time.Hour}, StepUp{MaxAge: time.Minute}, time.Minute, nil, true},
		{"one age", StepUp{}, StepUp{MaxAge: time.Minute}, time.Minute, nil, true},
		{"levels both accept", StepUp{ACR: []string{"a", "b"}}, StepUp{ACR: []string{"b", "c"}}, 0, []string{"b"}, true},
		{"one list", StepUp{ACR: []string{"a"}}, StepUp{}, 0, []string{"a"}, true},
		{"no level both accept", StepUp{ACR: []string{"a"}}, StepUp{ACR: []string{"b"}}, 0, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, ok := tc.a.Merge(tc.b)
			if ok != tc.ok {
				t.Fatalf("ok %v", ok)
			}
			if ok && (m.MaxAge != tc.maxAge || !slices.Equal(m.ACR, tc.acr)) {
				t.Errorf("merged %+v", m)
			}
		})
	}
}

func TestStepUpCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc, field string
	}{
		{"zero", "max_auth_age: 0s", "max_auth_age"},
		{"negative", "max_auth_age: -5m", "max_auth_age"},
		{"fractions of a second", "max_auth_age: 1500ms", "max_auth_age"},
		{"empty acr list", "acr_values: []", "acr_values"},
		{"empty acr", "acr_values: ['']", "acr_values[0]"},
		{"acr with a space", "acr_values: [mfa, 'two words']", "acr_values[1]"},
		{"in a path", "paths:\n  - prefix: /x\n    max_auth_age: 0s", "paths[0].max_auth_age"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			decodeStrict(t, tc.doc, &c)
			_, err := Compile(c)
			var ae *Error
			if !errors.As(err, &ae) || ae.Field != tc.field {
				t.Fatalf("error %v, want one naming %s", err, tc.field)
			}
		})
	}
	// A step-up alone is a rule: the provider is not left without policy.
	p := compileYAML(t, "max_auth_age: 1h")
	if p == nil || p.Evaluate(nil, "GET", "/").StepUp.MaxAge != time.Hour {
		t.Errorf("a provider-level max_auth_age alone did not compile into a policy")
	}
}

// StepUpFor needs no claims: a sign-in started for a path asks for its
// step-up at once.
func TestStepUpFor(t *testing.T) {
	p := compileYAML(t, stepUpPolicy)
	for _, tc := range []struct {
		method, path string
		maxAge       time.Duration
		acr          []string
	}{
		{"GET", "/admin", 10 * time.Minute, nil},
		{"POST", "/api/v2/silences", 0, []string{"mfa", "hwk"}},
		{"GET", "/api/v2/silences", 0, nil},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			if su := p.StepUpFor(tc.method, tc.path); su.MaxAge != tc.maxAge || !slices.Equal(su.ACR, tc.acr) {
				t.Errorf("%+v", su)
			}
		})
	}
	if (*Policy)(nil).StepUpFor("GET", "/").Required() {
		t.Error("a nil policy asks a step-up")
	}
}
