package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A rule typo in one provider of two refuses the whole file: the start-up
// with it fails, and a reload with it keeps both providers as they were,
// while readiness and the metrics say the reload failed (issue 20, row 10).
func TestRuleTypoRefusesTheWholeFile(t *testing.T) {
	graf := strings.ReplaceAll(strings.SplitN(standaloneYAML, "providers:\n", 2)[1], "prom", "graf")
	good := standaloneYAML + graf + "    allowed_groups: [ops]\n"
	// prefix without its leading "/": an error in graf's rules only.
	bad := standaloneYAML + graf + "    paths:\n      - prefix: admin\n        allowed_groups: [admins]\n"

	dir := t.TempDir()
	cfg := filepath.Join(dir, "providers.yaml")
	if err := os.WriteFile(cfg, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("at start-up", func(t *testing.T) {
		p := start(t, []string{"AUTHENTIK_LISTEN__HTTP=" + freeAddr(t), "AUTHENTIK_LISTEN__METRICS=" + freeAddr(t)}, "--config", cfg)
		if code := p.wait(t, 30*time.Second); code == 0 {
			t.Fatal("started with a rule that cannot be evaluated")
		}
		if out := p.output(); !strings.Contains(out, "line 19") || !strings.Contains(out, "graf") || !strings.Contains(out, "paths[0].prefix") {
			t.Errorf("the error does not name the line, provider and field:\n%s", out)
		}
	})

	t.Run("on reload", func(t *testing.T) {
		if err := os.WriteFile(cfg, []byte(good), 0o600); err != nil {
			t.Fatal(err)
		}
		httpAddr, metricsAddr := freeAddr(t), freeAddr(t)
		p := start(t, []string{"AUTHENTIK_LISTEN__HTTP=" + httpAddr, "AUTHENTIK_LISTEN__METRICS=" + metricsAddr}, "--config", cfg)
		p.waitFor(t, "configuration in force", 30*time.Second)
		waitHTTP(t, "http://"+metricsAddr+"/outpost.goauthentik.io/ping")
		servedBy := func() map[string]string {
			got := map[string]string{}
			for _, host := range []string{"prom.test", "graf.test"} {
				code, loc := get(t, "http://"+httpAddr+"/x", host)
				got[host] = fmt.Sprintf("%d %s", code, loc)
			}
			return got
		}
		before := servedBy()
		for host, got := range before {
			if !strings.HasPrefix(got, "302 http://"+host+"/outpost.goauthentik.io/start") {
				t.Fatalf("%s before the edit: %s", host, got)
			}
		}

		if err := os.WriteFile(cfg, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		line := p.waitFor(t, "configuration reload failed", 10*time.Second)
		if !strings.Contains(line, "paths[0].prefix") || !strings.Contains(line, "graf") || !strings.Contains(line, "line 19") {
			t.Errorf("the reload error does not name provider, field and line: %s", line)
		}
		// Both hosts are served by their own provider, as before: graf's host
		// is not handed to prom, nor left without sign-in.
		for host, got := range servedBy() {
			if got != before[host] {
				t.Errorf("%s after the refused edit: %s, want %s", host, got, before[host])
			}
		}
		for _, addr := range []string{httpAddr, metricsAddr} {
			code, body := get(t, "http://"+addr+"/outpost.goauthentik.io/ready", "prom.test")
			if code != 200 || !strings.Contains(body, "ready; the configuration refresh at") || !strings.Contains(body, "paths[0].prefix") {
				t.Errorf("readiness on %s after the failed reload: %d %q", addr, code, body)
			}
		}
		_, text := get(t, "http://"+metricsAddr+"/metrics", "")
		if !strings.Contains(text, "\noutpost_config_last_refresh_successful 0\n") || !strings.Contains(text, "\noutpost_config_refresh_failures_total 1\n") {
			t.Errorf("the metrics do not say the reload failed:\n%s", grepLines(text, "outpost_config_"))
		}

		// Fixed: the reload succeeds and readiness no longer names it (its
		// providers' issuer, id.example.invalid, is still unreachable: that
		// part of the body stays).
		if err := os.WriteFile(cfg, []byte(good+"    # fixed\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		p.waitFor(t, "configuration reloaded", 10*time.Second)
		if code, body := get(t, "http://"+metricsAddr+"/outpost.goauthentik.io/ready", ""); code != 200 || !strings.HasPrefix(body, "ready") || strings.Contains(body, "configuration refresh") {
			t.Errorf("readiness after the fix: %d %q", code, body)
		}
		if _, text := get(t, "http://"+metricsAddr+"/metrics", ""); !strings.Contains(text, "\noutpost_config_last_refresh_successful 1\n") {
			t.Errorf("the metrics after the fix:\n%s", grepLines(text, "outpost_config_"))
		}
	})
}

// grepLines keeps the lines of text that contain want.
func grepLines(text, want string) string {
	var keep []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, want) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
