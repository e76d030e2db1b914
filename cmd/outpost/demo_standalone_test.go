package main

import (
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/webtest"
)

// `outpost demo --standalone` runs the whole standalone path from the built
// binary: the devcore as an RS256 issuer, the outpost from the YAML file it
// wrote, the whoami app. demo signs in and sees their identity; guest signs
// in at the issuer and the file's rule refuses them.
func TestDemoStandalone(t *testing.T) {
	httpAddr, metricsAddr, coreAddr, upAddr := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	p := start(t, nil, "demo", "--standalone", "--listen", httpAddr, "--metrics", metricsAddr, "--core", coreAddr, "--upstream", upAddr)
	p.waitFor(t, "Press Ctrl-C", 60*time.Second)
	// The start-up log line can come before or after the banner: logs
	// are written from a buffer, every few milliseconds.
	for end := time.Now().Add(10 * time.Second); !strings.Contains(p.output(), `"msg":"register this redirect URI at the issuer"`) && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	out := p.output()
	_, port, _ := net.SplitHostPort(httpAddr)
	app := "http://localhost:" + port
	for _, want := range []string{
		"standalone mode", "http://localhost:" + port + "/", "demo / " + demoPassword, "guest / " + demoPassword,
		"issuer:       http://" + coreAddr + "/application/o/whoami/",
		"redirect URI: " + app + "/outpost.goauthentik.io/callback",
		// The start-up log line names the URI to register.
		`"msg":"register this redirect URI at the issuer","provider":"whoami"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The generated file is there to read and edit, with its rule.
	m := regexp.MustCompile(`providers come from (\S+providers\.yaml)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no configuration path in the banner:\n%s", out)
	}
	if b, err := os.ReadFile(m[1]); err != nil || !strings.Contains(string(b), "allowed_groups: [ops]") {
		t.Errorf("generated YAML %s: %v\n%s", m[1], err, b)
	}

	t.Run("demo signs in", func(t *testing.T) {
		c := webtest.Browser(t)
		resp := webtest.Get(t, c, app+"/hello")
		if !strings.HasPrefix(resp.Request.URL.String(), "http://"+coreAddr+"/application/o/authorize/") {
			t.Fatalf("not at the issuer's login: %s", resp.Request.URL)
		}
		resp = webtest.SignIn(t, c, resp, "demo", demoPassword)
		body := webtest.ReadBody(resp)
		if resp.StatusCode != 200 || resp.Request.URL.String() != app+"/hello" || !strings.Contains(body, "Signed in as <strong>demo</strong>") ||
			!strings.Contains(body, "X-Authentik-Groups") || !strings.Contains(body, "eyJhbGciOiJSUzI1NiI") {
			t.Fatalf("after sign-in: %d at %s:\n%s", resp.StatusCode, resp.Request.URL, body)
		}
	})
	t.Run("the rule refuses guest", func(t *testing.T) {
		c := webtest.Browser(t)
		resp := webtest.SignIn(t, c, webtest.Get(t, c, app+"/hello"), "guest", demoPassword)
		// The 403 page names guest; whoami's page would list the X-Authentik headers.
		if body := webtest.ReadBody(resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `id="user">guest<`) || strings.Contains(body, "X-Authentik-Groups") {
			t.Fatalf("guest: %d at %s:\n%s", resp.StatusCode, resp.Request.URL, body)
		}
	})

	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Errorf("exit code %d after SIGINT", code)
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("the generated file outlived the demo: %v", err)
	}
}
