// Package authz decides who may pass once a person (or a machine) is
// signed in: per-provider rules on the token's claims, optionally per path
// and method, for standalone providers where no core decides at login.
//
// Semantics: within one rule any listed value is enough (any-of); every
// rule that is set must pass (all-of). The first `paths` entry that matches
// the request replaces the provider-level rules for it. A claim that is
// missing or has the wrong shape fails its rule: nothing is guessed.
package authz

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Rules is the YAML form of one set of rules.
type Rules struct {
	// AllowedGroups: the groups claim (a list of strings) holds one of them.
	AllowedGroups []string `yaml:"allowed_groups"`
	// AllowedEmails: the email claim is one of them (compared without case).
	AllowedEmails []string `yaml:"allowed_emails"`
	// AllowedEmailDomains: the email claim's domain is one of them;
	// "*.example.com" also admits its subdomains.
	AllowedEmailDomains []string `yaml:"allowed_email_domains"`
	// AllowedUsers: the preferred_username claim is one of them (exact).
	AllowedUsers []string `yaml:"allowed_users"`
	// RequireClaims: for each claim, its value (or one element of it, for a
	// list) equals one of the listed values.
	RequireClaims map[string][]any `yaml:"require_claims"`
	// MaxAuthAge: the sign-in behind the session (auth_time) is at most
	// this old, else the person signs in again (step-up, stepup.go).
	MaxAuthAge *time.Duration `yaml:"max_auth_age"`
	// ACRValues: the sign-in's acr is one of them, else the person signs
	// in again, the identity provider asked for them.
	ACRValues []string `yaml:"acr_values"`
}

// Path is the YAML form of a per-path rule set.
type Path struct {
	Prefix  string   `yaml:"prefix"`
	Regex   string   `yaml:"regex"`
	Methods []string `yaml:"methods"`
	Rules   `yaml:",inline"`
}

// Config is what a provider's YAML says about authorization.
type Config struct {
	Rules `yaml:",inline"`
	Paths []Path `yaml:"paths"`
	// GroupsClaim names the claim holding groups (default "groups").
	GroupsClaim string `yaml:"groups_claim"`
	// GroupsCaseInsensitive compares group names without case; by default
	// "Admins" is not "admins".
	GroupsCaseInsensitive bool `yaml:"groups_case_insensitive"`
	// AllowUnverifiedEmail lets email rules pass without
	// email_verified: true (needed for issuers that never send it).
	AllowUnverifiedEmail bool `yaml:"allow_unverified_email"`
	// PathsCaseInsensitive makes every paths entry (prefix and regex) match
	// without letter case, for apps that route /API/x as /api/x; by
	// default /API is not /api, as for most servers.
	PathsCaseInsensitive bool `yaml:"paths_case_insensitive"`
}

// Empty reports whether the configuration sets no rule at all.
func (c Config) Empty() bool { return c.Rules.empty() && len(c.Paths) == 0 }

func (r Rules) empty() bool {
	return len(r.AllowedGroups) == 0 && len(r.AllowedEmails) == 0 && len(r.AllowedEmailDomains) == 0 &&
		len(r.AllowedUsers) == 0 && len(r.RequireClaims) == 0 && r.MaxAuthAge == nil && r.ACRValues == nil
}

// UsesMethods reports whether some rules depend on the request's method,
// so that a request whose method is unknown cannot be judged. A nil Policy
// uses none.
func (p *Policy) UsesMethods() bool {
	if p == nil {
		return false
	}
	for _, pr := range p.paths {
		if len(pr.methods) > 0 {
			return true
		}
	}
	return false
}

// Error names the field of a rule that cannot be evaluated.
type Error struct {
	Field string
	Err   string
}

func (e *Error) Error() string { return e.Field + ": " + e.Err }

// Policy is a compiled Config. A nil Policy allows every identity.
type Policy struct {
	base                  ruleSet
	paths                 []pathRules
	groupsClaim           string
	groupsCaseInsensitive bool
	allowUnverifiedEmail  bool
}

type pathRules struct {
	name    string // for logs: paths[i] (prefix or regex)
	prefix  string
	re      *regexp.Regexp
	methods []string
	rules   ruleSet
}

type ruleSet struct {
	groups  []string
	emails  []string
	domains []string
	users   []string
	claims  []claimRule
	stepUp  StepUp
}

type claimRule struct {
	name   string
	values []string
}

// Compile checks c and returns its Policy, nil when c has no rules. Every
// mistake is an error naming the field: a rule that cannot be evaluated
// must keep the provider out, never let everyone in.
func Compile(c Config) (*Policy, error) {
	if c.PathsCaseInsensitive && len(c.Paths) == 0 {
		return nil, &Error{"paths_case_insensitive", "is set but no paths entry is"}
	}
	if c.Empty() {
		if c.GroupsClaim != "" || c.GroupsCaseInsensitive || c.AllowUnverifiedEmail {
			return nil, &Error{"allowed_groups", "rule options are set but no rule is"}
		}
		return nil, nil
	}
	p := &Policy{groupsClaim: c.GroupsClaim, groupsCaseInsensitive: c.GroupsCaseInsensitive, allowUnverifiedEmail: c.AllowUnverifiedEmail}
	if p.groupsClaim == "" {
		p.groupsClaim = "groups"
	}
	var err error
	if p.base, err = compileRules("", c.Rules, p.groupsCaseInsensitive); err != nil {
		return nil, err
	}
	if p.base.stepUp, err = compileStepUp("", "", c.Rules); err != nil {
		return nil, err
	}
	for i, pc := range c.Paths {
		field := fmt.Sprintf("paths[%d]", i)
		pr := pathRules{prefix: pc.Prefix}
		switch {
		case pc.Prefix != "" && pc.Regex != "":
			return nil, &Error{field, "set prefix or regex, not both"}
		case pc.Prefix != "":
			if !strings.HasPrefix(pc.Prefix, "/") {
				return nil, &Error{field + ".prefix", fmt.Sprintf("%q must start with /", pc.Prefix)}
			}
			pr.name = field + " (prefix " + pc.Prefix + ")"
			if c.PathsCaseInsensitive {
				pr.re = foldedPrefix(pc.Prefix)
			}
		case pc.Regex != "":
			expr := pc.Regex
			if c.PathsCaseInsensitive {
				expr = foldCase + expr
			}
			re, err := regexp.Compile(expr)
			if err != nil {
				return nil, &Error{field + ".regex", err.Error()}
			}
			pr.re = re
			pr.name = field + " (regex " + pc.Regex + ")"
		default:
			return nil, &Error{field, "needs a prefix or a regex"}
		}
		for j, m := range pc.Methods {
			if m == "" || strings.ToUpper(m) != m || strings.ContainsAny(m, " \t") {
				return nil, &Error{fmt.Sprintf("%s.methods[%d]", field, j), fmt.Sprintf("%q is not an upper-case HTTP method", m)}
			}
			pr.methods = append(pr.methods, m)
		}
		if pr.rules, err = compileRules(field+".", pc.Rules, p.groupsCaseInsensitive); err != nil {
			return nil, err
		}
		if pr.rules.stepUp, err = compileStepUp(field+".", pr.name, pc.Rules); err != nil {
			return nil, err
		}
		p.paths = append(p.paths, pr)
	}
	return p, nil
}

func compileRules(prefix string, r Rules, groupsFold bool) (ruleSet, error) {
	var rs ruleSet
	nonEmpty := func(field string, list []string) error {
		for i, v := range list {
			if strings.TrimSpace(v) == "" {
				return &Error{fmt.Sprintf("%s%s[%d]", prefix, field, i), "must not be empty"}
			}
		}
		return nil
	}
	for field, list := range map[string][]string{
		"allowed_groups": r.AllowedGroups, "allowed_emails": r.AllowedEmails,
		"allowed_email_domains": r.AllowedEmailDomains, "allowed_users": r.AllowedUsers,
	} {
		if err := nonEmpty(field, list); err != nil {
			return rs, err
		}
	}
	for _, g := range r.AllowedGroups {
		if groupsFold {
			g = strings.ToLower(g)
		}
		rs.groups = append(rs.groups, g)
	}
	for i, e := range r.AllowedEmails {
		if strings.Count(e, "@") != 1 || strings.HasPrefix(e, "@") || strings.HasSuffix(e, "@") {
			return rs, &Error{fmt.Sprintf("%sallowed_emails[%d]", prefix, i), fmt.Sprintf("%q is not an email address", e)}
		}
		rs.emails = append(rs.emails, strings.ToLower(e))
	}
	for i, d := range r.AllowedEmailDomains {
		bare := strings.TrimPrefix(d, "*.")
		if strings.ContainsAny(bare, "@*/ ") || strings.HasPrefix(bare, ".") || !strings.Contains(bare, ".") {
			return rs, &Error{fmt.Sprintf("%sallowed_email_domains[%d]", prefix, i), fmt.Sprintf("%q is not a domain (example.com, or *.example.com for its subdomains too)", d)}
		}
		rs.domains = append(rs.domains, strings.ToLower(d))
	}
	rs.users = append(rs.users, r.AllowedUsers...)
	names := make([]string, 0, len(r.RequireClaims))
	for name := range r.RequireClaims {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		field := prefix + "require_claims." + name
		if strings.TrimSpace(name) == "" {
			return rs, &Error{prefix + "require_claims", "a claim name must not be empty"}
		}
		values := r.RequireClaims[name]
		if len(values) == 0 {
			return rs, &Error{field, "list at least one value"}
		}
		cr := claimRule{name: name}
		for i, v := range values {
			s, ok := scalar(v)
			if !ok {
				return rs, &Error{fmt.Sprintf("%s[%d]", field, i), fmt.Sprintf("%v: only strings, numbers and booleans can be compared", v)}
			}
			cr.values = append(cr.values, s)
		}
		rs.claims = append(rs.claims, cr)
	}
	return rs, nil
}

// scalar renders a comparable value; claims from JSON have float64
// numbers, YAML gives int: both render the same.
func scalar(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return "s:" + t, true
	case bool:
		return fmt.Sprintf("b:%t", t), true
	case int:
		return fmt.Sprintf("n:%d", t), true
	case int64:
		return fmt.Sprintf("n:%d", t), true
	case uint64:
		return fmt.Sprintf("n:%d", t), true
	case float64:
		if t == float64(int64(t)) {
			return fmt.Sprintf("n:%d", int64(t)), true
		}
		return fmt.Sprintf("n:%g", t), true
	}
	return "", false
}
