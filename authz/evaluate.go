package authz

import (
	"slices"
	"strings"
)

// Result is a decision: allowed, or refused by a named rule for a reason.
// Rule and Reason are for the log, never for the person refused.
type Result struct {
	Allowed bool
	// Rule is the refusing rule, e.g. "allowed_groups" or
	// "paths[1] (prefix /api/v1/admin).allowed_groups".
	Rule   string
	Reason string
	// StepUp is what the rule set that applied asks of the sign-in
	// (stepup.go), set when Allowed: the caller checks it against the
	// session, since only it knows the time and how to ask again.
	StepUp StepUp
}

var allowed = Result{Allowed: true}

// Evaluate decides for a request with these claims, method and path (the
// normalised path that goes upstream). A nil Policy allows.
func (p *Policy) Evaluate(claims map[string]any, method, path string) Result {
	if p == nil {
		return allowed
	}
	rules, scope := p.base, ""
	for _, pr := range p.paths {
		if pr.matches(method, path) {
			rules, scope = pr.rules, pr.name+"."
			break
		}
	}
	refuse := func(rule, reason string) Result {
		return Result{Rule: scope + rule, Reason: reason}
	}
	if len(rules.groups) > 0 {
		if reason := p.checkGroups(claims, rules.groups); reason != "" {
			return refuse("allowed_groups", reason)
		}
	}
	if len(rules.emails) > 0 || len(rules.domains) > 0 {
		local, domain, reason := p.email(claims)
		if reason != "" {
			if len(rules.emails) > 0 {
				return refuse("allowed_emails", reason)
			}
			return refuse("allowed_email_domains", reason)
		}
		if len(rules.emails) > 0 && !slices.Contains(rules.emails, local+"@"+domain) {
			return refuse("allowed_emails", "email not listed")
		}
		if len(rules.domains) > 0 && !domainAllowed(domain, rules.domains) {
			return refuse("allowed_email_domains", "email domain "+domain+" not listed")
		}
	}
	if len(rules.users) > 0 {
		u, ok := claims["preferred_username"].(string)
		switch {
		case !ok:
			return refuse("allowed_users", "no preferred_username claim")
		case !slices.Contains(rules.users, u):
			return refuse("allowed_users", "user not listed")
		}
	}
	for _, cr := range rules.claims {
		if reason := checkClaim(claims, cr); reason != "" {
			return refuse("require_claims."+cr.name, reason)
		}
	}
	return Result{Allowed: true, StepUp: rules.stepUp}
}

func (pr pathRules) matches(method, path string) bool {
	if len(pr.methods) > 0 && !methodListed(pr.methods, method) {
		return false
	}
	if pr.re != nil {
		return pr.re.MatchString(path)
	}
	// A prefix ends on a segment boundary: /admin covers /admin and
	// /admin/x, not /administrators.
	return path == pr.prefix || strings.HasPrefix(path, strings.TrimSuffix(pr.prefix, "/")+"/")
}

// methodListed reports whether a rule for methods covers method as the
// app acts on it: many apps fold a method's letter case (Flask serves
// "post" as POST), and most run GET's handler for HEAD, so a GET rule
// covers HEAD too.
func methodListed(methods []string, method string) bool {
	m := strings.ToUpper(method)
	for _, listed := range methods {
		if listed == m || listed == "GET" && m == "HEAD" {
			return true
		}
	}
	return false
}

// checkGroups: the groups claim must be a list of strings holding one of
// want. A single string is refused, not read as a one-element list.
func (p *Policy) checkGroups(claims map[string]any, want []string) string {
	raw, present := claims[p.groupsClaim]
	if !present {
		return "no " + p.groupsClaim + " claim"
	}
	list, ok := raw.([]any)
	if !ok {
		return p.groupsClaim + " claim is not a list"
	}
	found := false
	for _, v := range list {
		g, ok := v.(string)
		if !ok {
			return p.groupsClaim + " claim holds a non-string"
		}
		if p.groupsCaseInsensitive {
			g = strings.ToLower(g)
		}
		if slices.Contains(want, g) {
			found = true
		}
	}
	if !found {
		return "not in an allowed group"
	}
	return ""
}

// email returns the email claim's local part and domain, lower case, or
// why it cannot be used: missing, not one "@" (a@allowed.com@evil.com),
// or not verified.
func (p *Policy) email(claims map[string]any) (local, domain, reason string) {
	e, ok := claims["email"].(string)
	if !ok || e == "" {
		return "", "", "no email claim"
	}
	if strings.Count(e, "@") != 1 {
		return "", "", "email is not a single address"
	}
	local, domain, _ = strings.Cut(strings.ToLower(e), "@")
	if local == "" || domain == "" || strings.ContainsAny(e, " \t\r\n,;<>()\"\\") {
		return "", "", "email is not a single address"
	}
	if !p.allowUnverifiedEmail {
		if v, ok := claims["email_verified"].(bool); !ok || !v {
			return "", "", "email not verified"
		}
	}
	return local, domain, ""
}

func domainAllowed(domain string, allowedDomains []string) bool {
	for _, d := range allowedDomains {
		if sub, wild := strings.CutPrefix(d, "*."); wild {
			if domain == sub || strings.HasSuffix(domain, "."+sub) {
				return true
			}
		} else if domain == d {
			return true
		}
	}
	return false
}

func checkClaim(claims map[string]any, cr claimRule) string {
	raw, present := claims[cr.name]
	if !present {
		return "claim missing"
	}
	values := []any{raw}
	if list, ok := raw.([]any); ok {
		values = list
	}
	for _, v := range values {
		s, ok := scalar(v)
		if !ok {
			return "claim has a value that cannot be compared"
		}
		if slices.Contains(cr.values, s) {
			return ""
		}
	}
	return "no listed value"
}
