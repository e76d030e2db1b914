package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSessionEnv(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string // Sessions.String()
		err  string // substring of the error; "" = no error
	}{
		{"none", nil, "memory", ""},
		{"authentik vars", map[string]string{"AUTHENTIK_REDIS__HOST": "redis.internal", "AUTHENTIK_REDIS__PASSWORD": "file://" + pwFile, "AUTHENTIK_REDIS__DB": "2"},
			`redis(redis.internal:6379 db=2 tls=false verify=true password=[redacted] prefix="outpost:" cache=10000)`, ""},
		{"authentik tls", map[string]string{"AUTHENTIK_REDIS__HOST": "10.0.0.5", "AUTHENTIK_REDIS__PORT": "6380", "AUTHENTIK_REDIS__TLS": "true", "AUTHENTIK_REDIS__TLS_REQS": "none"},
			`redis(10.0.0.5:6380 db=0 tls=true verify=false prefix="outpost:" cache=10000)`, ""},
		{"ipv6 host", map[string]string{"AUTHENTIK_REDIS__HOST": "::1"}, "", "AUTHENTIK_REDIS__HOST"},
		{"url", map[string]string{"OUTPOST_SESSION_URL": "rediss://app:pa55@redis.example:7000/3", "OUTPOST_SESSION_PREFIX": "team-a:", "OUTPOST_SESSION_CACHE_SIZE": "0"},
			`redis(redis.example:7000 db=3 tls=true verify=true user=app password=[redacted] prefix="team-a:" cache=0)`, ""},
		{"url plain", map[string]string{"OUTPOST_SESSION_URL": "redis://127.0.0.1"}, `redis(127.0.0.1:6379 db=0 tls=false verify=true prefix="outpost:" cache=10000)`, ""},
		{"both", map[string]string{"OUTPOST_SESSION_URL": "redis://x", "AUTHENTIK_REDIS__HOST": "y"}, "", "OUTPOST_SESSION_URL: set together with AUTHENTIK_REDIS__HOST"},
		{"port without host", map[string]string{"AUTHENTIK_REDIS__PORT": "6379"}, "", "AUTHENTIK_REDIS__PORT: set without AUTHENTIK_REDIS__HOST"},
		{"bad port", map[string]string{"AUTHENTIK_REDIS__HOST": "r", "AUTHENTIK_REDIS__PORT": "99999"}, "", "AUTHENTIK_REDIS__PORT"},
		{"bad db", map[string]string{"AUTHENTIK_REDIS__HOST": "r", "AUTHENTIK_REDIS__DB": "one"}, "", "AUTHENTIK_REDIS__DB"},
		{"bad tls", map[string]string{"AUTHENTIK_REDIS__HOST": "r", "AUTHENTIK_REDIS__TLS": "maybe"}, "", "AUTHENTIK_REDIS__TLS"},
		{"bad tls reqs", map[string]string{"AUTHENTIK_REDIS__HOST": "r", "AUTHENTIK_REDIS__TLS": "1", "AUTHENTIK_REDIS__TLS_REQS": "always"}, "", "AUTHENTIK_REDIS__TLS_REQS"},
		{"tls reqs without tls", map[string]string{"AUTHENTIK_REDIS__HOST": "r", "AUTHENTIK_REDIS__TLS_REQS": "required"}, "", "AUTHENTIK_REDIS__TLS"},
		{"bad scheme", map[string]string{"OUTPOST_SESSION_URL": "http://r"}, "", "OUTPOST_SESSION_URL: scheme"},
		{"bad url db", map[string]string{"OUTPOST_SESSION_URL": "redis://:hunter2@r/x"}, "", "OUTPOST_SESSION_URL"},
		{"unknown param", map[string]string{"OUTPOST_SESSION_URL": "redis://:hunter2@r/0?pool=1"}, "", "unknown parameter"},
		{"bad cache size", map[string]string{"OUTPOST_SESSION_CACHE_SIZE": "-1"}, "", "OUTPOST_SESSION_CACHE_SIZE"},
		{"bad max per user", map[string]string{"OUTPOST_SESSION_MAX_PER_USER": "0"}, "", "OUTPOST_SESSION_MAX_PER_USER: want a whole number of at least 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, err := Load(mapLookup(tc.env), false)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want one containing %q", err, tc.err)
				}
				for _, secret := range []string{"hunter2", "s3cret"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error shows the password: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := env.Sessions.String(); got != tc.want {
				t.Errorf("Sessions = %s\n want %s", got, tc.want)
			}
			for _, s := range []string{env.String(), fmt.Sprintf("%v %+v %#v", env, env, env)} {
				if strings.Contains(s, "pa55") || strings.Contains(s, "s3cret") {
					t.Errorf("printed env shows the password: %s", s)
				}
			}
		})
	}
	if env, _ := Load(mapLookup(map[string]string{"OUTPOST_SESSION_MAX_PER_USER": "5"}), false); env.Sessions.MaxSessionsPerSubject != 5 {
		t.Errorf("OUTPOST_SESSION_MAX_PER_USER=5 read as %d", env.Sessions.MaxSessionsPerSubject)
	}
	env, _ := Load(mapLookup(map[string]string{"AUTHENTIK_REDIS__HOST": "r", "AUTHENTIK_REDIS__PASSWORD": "file://" + pwFile}), false)
	if env.Sessions.Redis.Password != "s3cret-from-file" {
		t.Errorf("file:// password not resolved")
	}
}
