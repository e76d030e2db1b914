package main

import (
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/outpost-dev/outpost/internal/headless"
)

// A person opens the demo in a real browser, signs in, sees their identity
// on the app, signs out, and is asked to sign in again.
func TestDemoInBrowser(t *testing.T) {
	httpAddr, metricsAddr, coreAddr, upAddr := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	p := start(t, nil, "demo", "--listen", httpAddr, "--metrics", metricsAddr, "--core", coreAddr, "--upstream", upAddr)
	p.waitFor(t, "Press Ctrl-C", 60*time.Second)
	_, port, _ := net.SplitHostPort(httpAddr)
	app := "http://localhost:" + port

	ctx := headless.Browser(t, 90*time.Second)

	step := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			here, _ := chromedp.Run(ctx, chromedp.Location())
			t.Fatalf("%s: %v (browser at %s)", what, err, here)
		}
	}
	location := func() string {
		t.Helper()
		u, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		return u
	}

	step("open the app", chromedp.Navigate(app+"/hello?from=browser"), chromedp.WaitVisible(`input[name="username"]`))
	if loginURL := location(); !strings.HasPrefix(loginURL, "http://"+coreAddr+"/application/o/authorize/") {
		t.Errorf("login form was at %s", loginURL)
	}
	step("sign in",
		chromedp.SendKeys(`input[name="username"]`, "demo"),
		chromedp.SendKeys(`input[name="password"]`, demoPassword),
		chromedp.Submit(`input[name="password"]`),
		chromedp.WaitVisible(`//h1[text()="whoami"]`),
	)
	if appURL := location(); appURL != app+"/hello?from=browser" {
		t.Errorf("after login the browser is at %s", appURL)
	}
	page, err := chromedp.Run(ctx, chromedp.Text("body"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Signed in as demo", "X-Authentik-Email", "demo@example.com", "X-Authentik-Groups", "ops", "X-Demo-Team", "platform"} {
		if !strings.Contains(page, want) {
			t.Errorf("the app page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "authentik_proxy_") {
		t.Errorf("the outpost's session cookie reached the app:\n%s", page)
	}

	step("sign out", chromedp.Navigate(app+"/outpost.goauthentik.io/sign_out"), chromedp.WaitReady("body"))
	step("open the app again", chromedp.Navigate(app+"/hello"), chromedp.WaitVisible(`input[name="username"]`))
	if after := location(); !strings.HasPrefix(after, "http://"+coreAddr+"/application/o/authorize/") {
		t.Errorf("after sign-out: %s", after)
	}

	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	p.wait(t, 30*time.Second)
}
