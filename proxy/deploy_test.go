package proxy

import (
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The deploy/ files that no test runs a real server for must still name the
// endpoints and headers the outpost serves.
func TestDeployFilesMatchEndpoints(t *testing.T) {
	var traefik struct {
		HTTP struct {
			Middlewares map[string]struct {
				ForwardAuth struct {
					Address                  string   `yaml:"address"`
					AuthResponseHeaders      []string `yaml:"authResponseHeaders"`
					TrustForwardHeader       bool     `yaml:"trustForwardHeader"`
					AuthResponseHeadersRegex string   `yaml:"authResponseHeadersRegex"`
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
	for _, name := range identityHeaderNames {
		if !slices.ContainsFunc(fa.AuthResponseHeaders, func(h string) bool { return strings.EqualFold(h, name) }) {
			t.Errorf("traefik authResponseHeaders lack %s", name)
		}
	}

	// A client's X-Forwarded-* must not reach the outpost, and every
	// spelling of an identity name must be stripped before the answer's
	// are copied (Traefik matches the regex on Go's canonical names).
	if fa.TrustForwardHeader {
		t.Error("traefik: trustForwardHeader passes a client's X-Forwarded-Uri and -Host to the outpost")
	}
	strip, err := regexp.Compile(fa.AuthResponseHeadersRegex)
	if err != nil || fa.AuthResponseHeadersRegex == "" {
		t.Fatalf("traefik: authResponseHeadersRegex %q: %v", fa.AuthResponseHeadersRegex, err)
	}
	for _, name := range identityHeaderNames {
		for _, spelling := range []string{name, strings.ReplaceAll(name, "-", "_"), strings.Replace(name, "-", "_", 1),
			"X-Authentik_" + strings.ReplaceAll(strings.TrimPrefix(name, "X-Authentik-"), "-", "_"), strings.ToUpper(name)} {
			if !strip.MatchString(http.CanonicalHeaderKey(spelling)) {
				t.Errorf("traefik: a client's %s is not stripped", spelling)
			}
		}
	}
	for _, other := range []string{"X-Request-Id", "X-Authentikation", "Authorization", "Cookie"} {
		if strip.MatchString(other) {
			t.Errorf("traefik: authResponseHeadersRegex strips %s", other)
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
	if !strings.Contains(string(envoy), "headers_with_underscores_action: DROP_HEADER") {
		t.Error("envoy passes headers with underscores (X_Authentik_Username) to the app")
	}
	for _, forwarding := range []string{"x-forwarded", "x-original"} {
		if strings.Contains(strings.ToLower(string(envoy)), "exact: "+forwarding) || strings.Contains(strings.ToLower(string(envoy)), "prefix: "+forwarding) {
			t.Errorf("envoy passes a client's %s* headers to the outpost", forwarding)
		}
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
	var app struct {
		Metadata struct {
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"metadata"`
	}
	first, _, _ := strings.Cut(string(ingress), "\n---\n")
	if err := yaml.Unmarshal([]byte(first), &app); err != nil {
		t.Fatal(err)
	}
	ann := app.Metadata.Annotations
	if n, err := strconv.Atoi(ann["nginx.ingress.kubernetes.io/auth-keepalive"]); err != nil || n < 1 {
		t.Errorf("ingress-nginx: auth-keepalive %q, want a number of connections", ann["nginx.ingress.kubernetes.io/auth-keepalive"])
	}
	if url := ann["nginx.ingress.kubernetes.io/auth-url"]; url == "" || strings.Contains(url, "$") {
		t.Errorf("ingress-nginx: auth-url %q must be a plain URL for auth-keepalive to apply", url)
	}
	copied := strings.Split(ann["nginx.ingress.kubernetes.io/auth-response-headers"], ",")
	for _, name := range identityHeaderNames {
		if !slices.ContainsFunc(copied, func(h string) bool { return strings.EqualFold(strings.TrimSpace(h), name) }) {
			t.Errorf("ingress-nginx: auth-response-headers lack %s, so a client's copy reaches the app", name)
		}
	}
	if !strings.Contains(ann["nginx.ingress.kubernetes.io/auth-snippet"], "proxy_set_header X-Forwarded-Host $host:$server_port;") {
		t.Errorf("ingress-nginx: auth-snippet must set X-Forwarded-Host to the server-selection host: %q", ann["nginx.ingress.kubernetes.io/auth-snippet"])
	}
}
