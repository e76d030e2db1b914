package authz

import (
	"encoding/json"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// decodeStrict decodes doc as the standalone file does: unknown keys fail.
func decodeStrict(t testing.TB, doc string, c *Config) {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		t.Fatalf("yaml: %v", err)
	}
}

func compileYAML(t testing.TB, doc string) *Policy {
	t.Helper()
	var c Config
	decodeStrict(t, doc, &c)
	p, err := Compile(c)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return p
}

func claimsOf(t testing.TB, js string) map[string]any {
	t.Helper()
	var c map[string]any
	if err := json.Unmarshal([]byte(js), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

const headPolicy = `
allowed_groups: [ops, admins]
paths:
  - prefix: /reports
    methods: [GET]
    allowed_groups: [admins]
`

// A GET rule covers HEAD, which most apps serve with GET's handler.
func TestGetRuleCoversHead(t *testing.T) {
	p := compileYAML(t, headPolicy)
	ops := claimsOf(t, `{"groups":["ops"]}`)
	for _, m := range []string{"GET", "HEAD", "head", "get"} {
		t.Run(m, func(t *testing.T) {
			if got := p.Evaluate(ops, m, "/reports"); got.Allowed {
				t.Errorf("%s /reports allowed for ops", m)
			}
		})
	}
	if got := p.Evaluate(ops, "POST", "/reports"); !got.Allowed {
		t.Errorf("POST /reports refused for ops: %+v (the GET rule does not cover it)", got)
	}
}

const examplePolicy = `
allowed_groups: [ops, admins]
allowed_email_domains: [example.com, "*.corp.example.com"]
paths:
  - prefix: /api/v1/admin
    allowed_groups: [admins]
  - regex: ^/api/v2/silences
    methods: [POST, DELETE]
    allowed_groups: [admins]
  - prefix: /public-status
`

func TestEvaluate(t *testing.T) {
	p := compileYAML(t, examplePolicy)
	ops := `{"preferred_username":"olga","groups":["ops"],"email":"olga@example.com","email_verified":true}`
	admin := `{"preferred_username":"ada","groups":["admins"],"email":"ada@eu.corp.example.com","email_verified":true}`
	cases := []struct {
		name, claims, method, path string
		allowed                    bool
		rule                       string
	}{
		{"ops at the root", ops, "GET", "/graph", true, ""},
		{"ops at admin", ops, "GET", "/api/v1/admin/tsdb", false, "paths[0] (prefix /api/v1/admin).allowed_groups"},
		{"ops at admin exactly", ops, "GET", "/api/v1/admin", false, "paths[0] (prefix /api/v1/admin).allowed_groups"},
		{"prefix is a segment", ops, "GET", "/api/v1/administrators", true, ""},
		{"admin at admin", admin, "GET", "/api/v1/admin/x", true, ""},
		{"ops reads silences", ops, "GET", "/api/v2/silences", true, ""},
		{"ops creates a silence", ops, "POST", "/api/v2/silences", false, "paths[1] (regex ^/api/v2/silences).allowed_groups"},
		{"admin deletes a silence", admin, "DELETE", "/api/v2/silences/1", true, ""},
		{"ops creates a silence in lower case", ops, "post", "/api/v2/silences", false, "paths[1] (regex ^/api/v2/silences).allowed_groups"},
		{"ops deletes a silence in mixed case", ops, "DeLeTe", "/api/v2/silences/1", false, "paths[1] (regex ^/api/v2/silences).allowed_groups"},
		{"empty path rules: any identity", `{"groups":[]}`, "GET", "/public-status", true, ""},
		{"no groups claim", `{"email":"a@example.com","email_verified":true}`, "GET", "/", false, "allowed_groups"},
		{"groups as a string", `{"groups":"ops","email":"a@example.com","email_verified":true}`, "GET", "/", false, "allowed_groups"},
		{"groups with a non-string", `{"groups":["ops",1],"email":"a@example.com","email_verified":true}`, "GET", "/", false, "allowed_groups"},
		{"case differs", `{"groups":["OPS"],"email":"a@example.com","email_verified":true}`, "GET", "/", false, "allowed_groups"},
		{"two @", `{"groups":["ops"],"email":"a@example.com@evil.com","email_verified":true}`, "GET", "/", false, "allowed_email_domains"},
		{"unverified email", `{"groups":["ops"],"email":"a@example.com","email_verified":false}`, "GET", "/", false, "allowed_email_domains"},
		{"email_verified as a string", `{"groups":["ops"],"email":"a@example.com","email_verified":"true"}`, "GET", "/", false, "allowed_email_domains"},
		{"other domain", `{"groups":["ops"],"email":"a@evil.com","email_verified":true}`, "GET", "/", false, "allowed_email_domains"},
		{"look-alike domain", `{"groups":["ops"],"email":"a@notexample.com","email_verified":true}`, "GET", "/", false, "allowed_email_domains"},
		{"subdomain not covered without *.", `{"groups":["ops"],"email":"a@sub.example.com","email_verified":true}`, "GET", "/", false, "allowed_email_domains"},
		{"domain case", `{"groups":["ops"],"email":"A@EXAMPLE.COM","email_verified":true}`, "GET", "/", true, ""},
		{"display-name form", `{"groups":["ops"],"email":"Eve <eve@example.com>","email_verified":true}`, "GET", "/", false, "allowed_email_domains"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := p.Evaluate(claimsOf(t, c.claims), c.method, c.path)
			if got.Allowed != c.allowed || got.Rule != c.rule {
				t.Errorf("%s: %+v, want allowed=%t rule=%q", c.name, got, c.allowed, c.rule)
			}
		})
	}
}

func TestEvaluateUsersClaimsAndOptions(t *testing.T) {
	p := compileYAML(t, `
allowed_users: [alice]
require_claims:
  department: [sre, platform]
  level: [3]
  active: [true]
groups_claim: roles
groups_case_insensitive: true
allowed_groups: [Admins]
allowed_emails: [Alice@Example.com]
allow_unverified_email: true
`)
	good := `{"preferred_username":"alice","department":["sales","sre"],"level":3,"active":true,"roles":["ADMINS"],"email":"alice@example.com"}`
	if r := p.Evaluate(claimsOf(t, good), "GET", "/"); !r.Allowed {
		t.Fatalf("good identity refused: %+v", r)
	}
	for name, c := range map[string]struct{ edit, rule string }{
		"another user":         {`"preferred_username":"bob"`, "allowed_users"},
		"username not string":  {`"preferred_username":7`, "allowed_users"},
		"wrong department":     {`"department":"sales"`, "require_claims.department"},
		"level as string":      {`"level":"3"`, "require_claims.level"},
		"inactive":             {`"active":false`, "require_claims.active"},
		"object claim":         {`"department":{"name":"sre"}`, "require_claims.department"},
		"groups in the groups": {`"roles":null`, "allowed_groups"},
		"other email":          {`"email":"alice2@example.com"`, "allowed_emails"},
	} {
		t.Run(name, func(t *testing.T) {
			var m map[string]any
			_ = json.Unmarshal([]byte(good), &m)
			var patch map[string]any
			_ = json.Unmarshal([]byte("{"+c.edit+"}"), &patch)
			for k, v := range patch {
				m[k] = v
			}
			if r := p.Evaluate(m, "GET", "/"); r.Allowed || r.Rule != c.rule {
				t.Errorf("%s: %+v, want refused by %s", name, r, c.rule)
			}
		})
	}
	var nilPolicy *Policy
	if !nilPolicy.Evaluate(nil, "GET", "/").Allowed {
		t.Error("no policy must allow")
	}
}

func TestCompileErrorsNameTheField(t *testing.T) {
	for doc, field := range map[string]string{
		"paths: [{regex: '(unclosed'}]":                "paths[0].regex",
		"paths: [{prefix: admin}]":                     "paths[0].prefix",
		"paths: [{prefix: /a, regex: b}]":              "paths[0]",
		"paths: [{methods: [GET]}]":                    "paths[0]",
		"paths: [{prefix: /a, methods: [get]}]":        "paths[0].methods[0]",
		"allowed_emails: [a@b@c]":                      "allowed_emails[0]",
		"allowed_email_domains: ['@example.com']":      "allowed_email_domains[0]",
		"allowed_email_domains: [localhost]":           "allowed_email_domains[0]",
		"allowed_groups: ['']":                         "allowed_groups[0]",
		"require_claims: {team: [{a: b}]}":             "require_claims.team[0]",
		"require_claims: {team: []}":                   "require_claims.team",
		"groups_claim: roles":                          "allowed_groups",
		"paths: [{prefix: /a, allowed_users: ['  ']}]": "paths[0].allowed_users[0]",
	} {
		t.Run(doc, func(t *testing.T) {
			var c Config
			if err := yaml.Unmarshal([]byte(doc), &c); err != nil {
				t.Fatalf("%s: yaml: %v", doc, err)
			}
			_, err := Compile(c)
			e, ok := err.(*Error)
			if !ok || e.Field != field {
				t.Errorf("%s: error %v, want field %s", doc, err, field)
			}
		})
	}
}

// Whatever a token says, evaluation never panics, and a groups rule never
// passes unless the claim really is a list holding an allowed group.
func FuzzEvaluate(f *testing.F) {
	f.Add(`{"groups":["ops"],"email":"a@example.com","email_verified":true}`, "GET", "/api/v1/admin")
	f.Add(`{"groups":"ops"}`, "POST", "/api/v2/silences")
	f.Add(`{"groups":[null,{"a":1},["ops"]],"email":7}`, "DELETE", "/")
	p := compileYAML(f, examplePolicy)
	f.Fuzz(func(t *testing.T, js, method, path string) {
		var claims map[string]any
		if json.Unmarshal([]byte(js), &claims) != nil {
			return
		}
		r := p.Evaluate(claims, method, path)
		if !r.Allowed {
			return
		}
		if strings.HasPrefix(path, "/public-status") {
			return
		}
		list, ok := claims["groups"].([]any)
		if !ok {
			t.Fatalf("allowed without a groups list: %s", js)
		}
		found := false
		for _, g := range list {
			if g == "ops" || g == "admins" {
				found = true
			}
		}
		if !found {
			t.Fatalf("allowed without an allowed group: %s", js)
		}
	})
}
