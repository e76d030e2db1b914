package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds Debian's Chromium, which `make test` installs.
func chromiumPath(t *testing.T) string {
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found: install Debian's chromium package (make test does) or set CHROMIUM")
	return ""
}

// A person opens the demo in a real browser, signs in, sees their identity
// on the app, signs out, and is asked to sign in again.
func TestDemoInBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	httpAddr, metricsAddr, coreAddr, upAddr := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	p := start(t, nil, "demo", "--listen", httpAddr, "--metrics", metricsAddr, "--core", coreAddr, "--upstream", upAddr)
	p.waitFor(t, "Press Ctrl-C", 60*time.Second)
	_, port, _ := net.SplitHostPort(httpAddr)
	app := "http://localhost:" + port

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

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
