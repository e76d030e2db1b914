package proxy

import (
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/outpost-dev/outpost/assertion"
	"go.yaml.in/yaml/v3"
)

// The deploy/ files that no test runs a real server for must still name the
// endpoints and headers the outpost serves.
func TestDeployFilesMatchEndpoints(t *testing.T) {
	var traefik struct {
		HTTP struct {
			Middlewares map[string]struct {
				ForwardAuth struct {
					Address             string   `yaml:"address"`
					AuthResponseHeaders []string `yaml:"authResponseHeaders"`
				} `yaml:"forwardAuth"`
			} `yaml:"middlewares"`
		} `yaml:"http"`
	}
	b, err := os.ReadFile("../deploy/traefik/dynamic.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &traefik); err != nil {
		t.Fatal(err)
	}
	fa := traefik.HTTP.Middlewares["authentik"].ForwardAuth
	if !strings.HasSuffix(fa.Address, pathAuthTraefik) {
		t.Errorf("traefik forwardAuth address %q does not end in %s", fa.Address, pathAuthTraefik)
	}
	for _, name := range guardedHeaderNames {
		if !slices.ContainsFunc(fa.AuthResponseHeaders, func(h string) bool { return strings.EqualFold(h, name) }) {
			t.Errorf("traefik authResponseHeaders lack %s", name)
		}
	}

	envoy, err := os.ReadFile("../deploy/envoy/envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var anyDoc any
	if err := yaml.Unmarshal(envoy, &anyDoc); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(envoy), "path_prefix: "+pathAuthEnvoy+"\n") {
		t.Errorf("envoy ext_authz path_prefix is not %s", pathAuthEnvoy)
	}
	ingress, err := os.ReadFile("../deploy/kubernetes/ingress-nginx.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ingress), pathAuthNginx+"\n") || !strings.Contains(string(ingress), pathStart+"?rd=") {
		t.Errorf("ingress-nginx annotations do not use %s and %s", pathAuthNginx, pathStart)
	}
	// Keep-alive to the outpost, which ingress-nginx applies only to an
	// auth-url without variables.
	ann := ingressAnnotations(t, ingress)
	if n, err := strconv.Atoi(ann["nginx.ingress.kubernetes.io/auth-keepalive"]); err != nil || n < 1 {
		t.Errorf("ingress-nginx: auth-keepalive %q, want a number of connections", ann["nginx.ingress.kubernetes.io/auth-keepalive"])
	}
	if url := ann["nginx.ingress.kubernetes.io/auth-url"]; url == "" || strings.Contains(url, "$") {
		t.Errorf("ingress-nginx: auth-url %q must be a plain URL for auth-keepalive to apply", url)
	}
}

// guardedHeaderNames are the names every shipped configuration sets from
// the outpost's answer only: the twelve and the identity assertion.
var guardedHeaderNames = append(identityHeaderNames[:len(identityHeaderNames):len(identityHeaderNames)], assertion.DefaultHeader)

// aliasSeparators are the characters HTTP allows in a header name besides
// letters and digits. CGI, WSGI and PHP apps fold each of them, "-"
// included, to "_", so any of them between the words of an identity name
// makes a name such an app reads as that identity name.
const aliasSeparators = "-_.!#$%&'*+^`|~"

// identityAliases is every way a client may spell the guarded names so that such an app reads them as the name: each separator
// throughout, mixed with "-", cycling through all of them, and in lower
// and upper case, as the client writes them (not canonicalized).
func identityAliases() []string {
	var out []string
	for _, name := range guardedHeaderNames {
		words := strings.Split(name, "-")
		join := func(sep func(i int) string) string {
			var b strings.Builder
			for i, w := range words {
				if i > 0 {
					b.WriteString(sep(i))
				}
				b.WriteString(w)
			}
			return b.String()
		}
		var spellings []string
		for _, c := range aliasSeparators {
			s := string(c)
			spellings = append(spellings,
				join(func(int) string { return s }),
				join(func(i int) string {
					if i == 1 {
						return s
					}
					return "-"
				}),
				join(func(i int) string {
					if i == 1 {
						return "-"
					}
					return s
				}))
		}
		spellings = append(spellings, join(func(i int) string { return string(aliasSeparators[i%len(aliasSeparators)]) }))
		for _, s := range spellings {
			out = append(out, s, strings.ToLower(s), strings.ToUpper(s))
		}
	}
	return out
}

// Headers the identity-header guards must leave alone. Caddy's deletion,
// which can only match a part of a name, also takes any other name that
// holds "authentik"; Traefik's and Envoy's regexes must not.
var (
	notIdentityHeaders  = []string{"X-Request-Id", "Authorization", "Cookie", "Accept", "X-Forwarded-For"}
	nearIdentityHeaders = []string{"X-Authentik", "Authentik", "X-Authentikation", "Authentik-Username"}
)

// Every shipped reverse-proxy configuration sets or clears every spelling
// of the identity names on the request to the app, and keeps a client's
// forwarding headers from the outpost: checked on the files as the proxy
// reads them, for the proxies no test runs (Traefik, Envoy, ingress-nginx),
// and for Caddy's deletions as Caddy 2.6.2 matches them.
func TestDeployFilesGuardIdentityHeaders(t *testing.T) {
	aliases := identityAliases()

	t.Run("traefik", func(t *testing.T) {
		var conf struct {
			HTTP struct {
				Middlewares map[string]struct {
					ForwardAuth struct {
						TrustForwardHeader       *bool  `yaml:"trustForwardHeader"`
						AuthResponseHeadersRegex string `yaml:"authResponseHeadersRegex"`
					} `yaml:"forwardAuth"`
				} `yaml:"middlewares"`
			} `yaml:"http"`
		}
		readYAML(t, "../deploy/traefik/dynamic.yml", &conf)
		fa := conf.HTTP.Middlewares["authentik"].ForwardAuth
		// Unset is false, Traefik's default.
		if fa.TrustForwardHeader != nil && *fa.TrustForwardHeader {
			t.Error("trustForwardHeader passes X-Forwarded-Uri and -Host as they arrive to the outpost")
		}
		// Traefik deletes the request headers whose Go canonical name the
		// regex matches (regexp.MatchString), then copies the answer's.
		strip, err := regexp.Compile(fa.AuthResponseHeadersRegex)
		if err != nil || fa.AuthResponseHeadersRegex == "" {
			t.Fatalf("authResponseHeadersRegex %q: %v", fa.AuthResponseHeadersRegex, err)
		}
		for _, a := range aliases {
			if !strip.MatchString(http.CanonicalHeaderKey(a)) {
				t.Errorf("a client's %s (%s) is not stripped", a, http.CanonicalHeaderKey(a))
			}
		}
		for _, name := range guardedHeaderNames {
			if !strip.MatchString(name) {
				t.Errorf("the answer's %s is not copied", name)
			}
		}
		for _, other := range append(notIdentityHeaders, nearIdentityHeaders...) {
			if strip.MatchString(other) {
				t.Errorf("authResponseHeadersRegex strips %s", other)
			}
		}
	})

	t.Run("envoy", func(t *testing.T) {
		var conf struct {
			StaticResources struct {
				Listeners []struct {
					FilterChains []struct {
						Filters []struct {
							TypedConfig struct {
								CommonHTTPProtocolOptions struct {
									HeadersWithUnderscoresAction string `yaml:"headers_with_underscores_action"`
								} `yaml:"common_http_protocol_options"`
								EarlyHeaderMutation []struct {
									Name        string `yaml:"name"`
									TypedConfig struct {
										Mutations []struct {
											RemoveOnMatch struct {
												KeyMatcher struct {
													SafeRegex struct {
														Regex string `yaml:"regex"`
													} `yaml:"safe_regex"`
												} `yaml:"key_matcher"`
											} `yaml:"remove_on_match"`
										} `yaml:"mutations"`
									} `yaml:"typed_config"`
								} `yaml:"early_header_mutation_extensions"`
								HTTPFilters []struct {
									Name        string         `yaml:"name"`
									TypedConfig map[string]any `yaml:"typed_config"`
								} `yaml:"http_filters"`
							} `yaml:"typed_config"`
						} `yaml:"filters"`
					} `yaml:"filter_chains"`
				} `yaml:"listeners"`
			} `yaml:"static_resources"`
		}
		readYAML(t, "../deploy/envoy/envoy.yaml", &conf)
		if len(conf.StaticResources.Listeners) != 1 || len(conf.StaticResources.Listeners[0].FilterChains) != 1 ||
			len(conf.StaticResources.Listeners[0].FilterChains[0].Filters) != 1 {
			t.Fatal("want one listener with one HTTP connection manager")
		}
		hcm := conf.StaticResources.Listeners[0].FilterChains[0].Filters[0].TypedConfig
		if hcm.CommonHTTPProtocolOptions.HeadersWithUnderscoresAction != "DROP_HEADER" {
			t.Error("headers with underscores (X_Authentik_Username) reach the outpost and the app")
		}

		// Envoy's header names are lower case; a StringMatcher's safe_regex
		// must match the whole name.
		var removers []*regexp.Regexp
		for _, ext := range hcm.EarlyHeaderMutation {
			if ext.Name != "envoy.http.early_header_mutation.header_mutation" {
				continue
			}
			for _, m := range ext.TypedConfig.Mutations {
				if re := m.RemoveOnMatch.KeyMatcher.SafeRegex.Regex; re != "" {
					removers = append(removers, regexp.MustCompile("^(?:"+re+")$"))
				}
			}
		}
		removed := func(name string) bool {
			return slices.ContainsFunc(removers, func(re *regexp.Regexp) bool { return re.MatchString(name) })
		}
		for _, a := range aliases {
			if l := strings.ToLower(a); !strings.Contains(l, "_") && !removed(l) {
				t.Errorf("a client's %s reaches the app", l)
			}
		}
		for _, other := range append(notIdentityHeaders, nearIdentityHeaders...) {
			if removed(strings.ToLower(other)) {
				t.Errorf("the early header mutation removes %s", other)
			}
		}

		var authz map[string]any
		for _, f := range hcm.HTTPFilters {
			if f.Name == "envoy.filters.http.ext_authz" {
				authz = f.TypedConfig
			}
		}
		if authz == nil {
			t.Fatal("no ext_authz filter")
		}
		// The client's headers the outpost sees: no forwarding header.
		patterns := func(m any) []map[string]any {
			var out []map[string]any
			if mm, ok := m.(map[string]any); ok {
				ps, _ := mm["patterns"].([]any)
				for _, p := range ps {
					if pm, ok := p.(map[string]any); ok {
						out = append(out, pm)
					}
				}
			}
			return out
		}
		service, _ := authz["http_service"].(map[string]any)
		if req, ok := service["authorization_request"].(map[string]any); ok && req["allowed_headers"] != nil {
			t.Error("http_service.authorization_request.allowed_headers is deprecated: use ext_authz's allowed_headers")
		}
		allowed := patterns(authz["allowed_headers"])
		if len(allowed) == 0 {
			t.Error("ext_authz allowed_headers unset: gRPC would pass every header of the client's")
		}
		for _, p := range allowed {
			for kind, v := range p {
				s, _ := v.(string)
				if kind != "exact" || strings.HasPrefix(strings.ToLower(s), "x-forwarded") || strings.HasPrefix(strings.ToLower(s), "x-original") || strings.EqualFold(s, "forwarded") {
					t.Errorf("ext_authz passes a client's %s %q to the outpost", kind, s)
				}
			}
		}
		// Overwritten, not appended: the answer's twelve names replace the
		// client's (which the early mutation removed already).
		resp, _ := service["authorization_response"].(map[string]any)
		if _, ok := resp["allowed_upstream_headers_to_append"]; ok {
			t.Error("allowed_upstream_headers_to_append appends to a client's identity headers")
		}
		up := patterns(resp["allowed_upstream_headers"])
		for _, name := range guardedHeaderNames {
			l := strings.ToLower(name)
			if !slices.ContainsFunc(up, func(p map[string]any) bool {
				return p["exact"] == l || (p["prefix"] != nil && strings.HasPrefix(l, p["prefix"].(string)))
			}) {
				t.Errorf("allowed_upstream_headers lack %s", l)
			}
		}
	})

	t.Run("ingress-nginx", func(t *testing.T) {
		ingress, err := os.ReadFile("../deploy/kubernetes/ingress-nginx.yaml")
		if err != nil {
			t.Fatal(err)
		}
		ann := ingressAnnotations(t, ingress)
		copied := strings.Split(ann["nginx.ingress.kubernetes.io/auth-response-headers"], ",")
		for _, name := range guardedHeaderNames {
			if !slices.ContainsFunc(copied, func(h string) bool { return strings.EqualFold(strings.TrimSpace(h), name) }) {
				t.Errorf("auth-response-headers lack %s, so a client's copy reaches the app", name)
			}
		}
		// nginx sends no client header that a proxy_set_header names; ""
		// sends none at all.
		snippet := map[string]string{}
		for _, line := range strings.Split(ann["nginx.ingress.kubernetes.io/auth-snippet"], "\n") {
			if f := strings.Fields(strings.TrimSuffix(strings.TrimSpace(line), ";")); len(f) == 3 && f[0] == "proxy_set_header" {
				snippet[strings.ToLower(f[1])] = f[2]
			}
		}
		for name, want := range map[string]string{
			"x-forwarded-host":   "$host:$server_port",
			"x-forwarded-proto":  "$scheme",
			"x-forwarded-uri":    `""`,
			"x-forwarded-method": `""`,
			"x-original-uri":     `""`,
		} {
			if got, ok := snippet[name]; !ok || got != want {
				t.Errorf("auth-snippet sets %s to %q, want %s", name, got, want)
			}
		}
	})

	t.Run("caddy", func(t *testing.T) {
		b, err := os.ReadFile("../deploy/caddy/outpost.caddy")
		if err != nil {
			t.Fatal(err)
		}
		// The request_header deletions before forward_auth copies the
		// answer's headers (the snippet runs inside a route, in order).
		var deletions []string
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) == 0 || strings.HasPrefix(f[0], "#") {
				continue
			}
			if f[0] == "forward_auth" {
				break
			}
			if f[0] == "request_header" && len(f) == 2 && strings.HasPrefix(f[1], "-") {
				deletions = append(deletions, f[1][1:])
			}
		}
		deleted := func(header string) bool {
			return slices.ContainsFunc(deletions, func(p string) bool { return caddyDeletes(p, header) })
		}
		for _, a := range aliases {
			if !deleted(http.CanonicalHeaderKey(a)) {
				t.Errorf("a client's %s (%s) reaches the app", a, http.CanonicalHeaderKey(a))
			}
		}
		for _, name := range []string{"X-Original-Url", "X-Original-Uri", "X-Original-Method"} {
			if !deleted(name) {
				t.Errorf("a client's %s reaches the outpost", name)
			}
		}
		for _, other := range notIdentityHeaders {
			if deleted(other) {
				t.Errorf("the snippet deletes %s", other)
			}
		}
	})
}

// caddyDeletes reports whether Caddy 2.6.2's `request_header -pattern`
// deletes header (a Go canonical name), as measured with the real server:
// "*" at the start, the end or both matches a suffix, a prefix or a part of
// the name, ignoring case; a plain name is deleted in any case.
func caddyDeletes(pattern, header string) bool {
	p, h := strings.ToLower(pattern), strings.ToLower(header)
	switch {
	case p == "*":
		return true
	case len(p) > 1 && strings.HasPrefix(p, "*") && strings.HasSuffix(p, "*"):
		return strings.Contains(h, p[1:len(p)-1])
	case strings.HasPrefix(p, "*"):
		return strings.HasSuffix(h, p[1:])
	case strings.HasSuffix(p, "*"):
		return strings.HasPrefix(h, p[:len(p)-1])
	}
	return p == h
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// ingressAnnotations are the annotations of the app's Ingress, the first
// document of deploy/kubernetes/ingress-nginx.yaml.
func ingressAnnotations(t *testing.T, ingress []byte) map[string]string {
	t.Helper()
	var app struct {
		Metadata struct {
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"metadata"`
	}
	first, _, _ := strings.Cut(string(ingress), "\n---\n")
	if err := yaml.Unmarshal([]byte(first), &app); err != nil {
		t.Fatal(err)
	}
	return app.Metadata.Annotations
}
