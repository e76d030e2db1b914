package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/redistest"
)

// The outpost refuses to start on a Redis whose maxmemory-policy evicts
// keys (it would drop the session indexes revocations need), starts on
// noeviction, and on a Redis that will not say (CONFIG refused, as managed
// services do) starts with a warning.
func TestRedisEvictionPolicyCheckedAtStart(t *testing.T) {
	cfg := t.TempDir() + "/providers.yaml"
	if err := os.WriteFile(cfg, []byte(standaloneYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		user   string // OUTPOST_SESSION_URL user:password, when not the default user
		starts bool
		want   string
	}{
		{name: "allkeys-lru", args: []string{"--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"}, want: "maxmemory-policy is allkeys-lru"},
		{name: "volatile-lru", args: []string{"--maxmemory", "64mb", "--maxmemory-policy", "volatile-lru"}, want: "maxmemory-policy is volatile-lru"},
		{name: "noeviction", args: []string{"--maxmemory", "64mb", "--maxmemory-policy", "noeviction"}, starts: true, want: `"sessions in redis"`},
		{name: "CONFIG refused", args: []string{"--maxmemory-policy", "allkeys-lru", "--user", "outpost", "on", ">outpost-pw", "~*", "&*", "+@all", "-config"},
			user: "outpost:outpost-pw", starts: true, want: "could not read the redis maxmemory-policy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.StartWith(t, redistest.Options{Args: tc.args})
			url := srv.URL()
			if tc.user != "" {
				url = "redis://" + tc.user + "@" + srv.Addr() + "/0"
			}
			env := []string{"AUTHENTIK_LISTEN__HTTP=" + freeAddr(t), "AUTHENTIK_LISTEN__METRICS=" + freeAddr(t), "OUTPOST_SESSION_URL=" + url}
			p := start(t, env, "--config", cfg)
			if !tc.starts {
				if code := p.wait(t, 30*time.Second); code == 0 {
					t.Fatal("started on an evicting redis")
				}
				if out := p.output(); !strings.Contains(out, tc.want) || !strings.Contains(out, "noeviction") {
					t.Errorf("the refusal does not name the policy and the fix:\n%s", out)
				}
				return
			}
			p.waitFor(t, tc.want, 30*time.Second)
			p.waitFor(t, "configuration in force", 30*time.Second)
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			p.wait(t, 30*time.Second)
		})
	}
}

// A Redis that was down at start is checked once it answers: an evicting
// policy is then logged at ERROR level (the outpost keeps serving).
func TestRedisEvictionPolicyCheckedOnceReachable(t *testing.T) {
	cfg := t.TempDir() + "/providers.yaml"
	if err := os.WriteFile(cfg, []byte(standaloneYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := redistest.StartWith(t, redistest.Options{Args: []string{"--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"}})
	relay := redistest.NewRelay(t, srv.Addr())
	relay.Cut()
	env := []string{"AUTHENTIK_LISTEN__HTTP=" + freeAddr(t), "AUTHENTIK_LISTEN__METRICS=" + freeAddr(t), "OUTPOST_SESSION_URL=redis://" + relay.Addr() + "/0"}
	p := start(t, env, "--config", cfg)
	p.waitFor(t, "does not answer yet", 30*time.Second)
	p.waitFor(t, "configuration in force", 30*time.Second)
	relay.Restore()
	line := p.waitFor(t, "maxmemory-policy is allkeys-lru", 30*time.Second)
	if !strings.Contains(line, `"level":"ERROR"`) && !strings.Contains(line, "level=ERROR") {
		t.Errorf("not an error: %s", line)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t, 30*time.Second)
}
