package proxy

import (
	"os"
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
	for _, name := range identityHeaderNames {
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
}
