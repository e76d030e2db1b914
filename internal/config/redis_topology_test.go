package config

import (
	"strings"
	"testing"
)

// Sentinel and Cluster settings: what they select, and every combination
// that cannot be meant refused with the variable named and no password
// shown.
func TestRedisTopologyEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string // Sessions.String()
		err  string // substring of the error; "" = no error
	}{
		{"sentinel", map[string]string{"AUTHENTIK_REDIS__SENTINEL__MASTER": "mymaster", "AUTHENTIK_REDIS__SENTINEL__ADDRS": "s1, s2:26380,[::1]",
			"AUTHENTIK_REDIS__SENTINEL__PASSWORD": "hunter2", "AUTHENTIK_REDIS__PASSWORD": "s3cret", "AUTHENTIK_REDIS__DB": "1"},
			`redis(sentinel master=mymaster sentinels=s1:26379,s2:26380,[::1]:26379 sentinel_password=[redacted] db=1 tls=false verify=true password=[redacted] prefix="outpost:" cache=10000)`, ""},
		{"sentinel json list", map[string]string{"AUTHENTIK_REDIS__SENTINEL__MASTER": "m", "AUTHENTIK_REDIS__SENTINEL__ADDRS": `["10.0.0.1:5000"]`},
			`redis(sentinel master=m sentinels=10.0.0.1:5000 db=0 tls=false verify=true prefix="outpost:" cache=10000)`, ""},
		{"cluster", map[string]string{"AUTHENTIK_REDIS__CLUSTER__ADDRS": "c1:7000,c2,c3:7002", "AUTHENTIK_REDIS__PASSWORD": "s3cret", "AUTHENTIK_REDIS__TLS": "true"},
			`redis(cluster nodes=c1:7000,c2:6379,c3:7002 db=0 tls=true verify=true password=[redacted] prefix="outpost:" cache=10000)`, ""},
		{"cluster db 0", map[string]string{"AUTHENTIK_REDIS__CLUSTER__ADDRS": "c1", "AUTHENTIK_REDIS__DB": "0"},
			`redis(cluster nodes=c1:6379 db=0 tls=false verify=true prefix="outpost:" cache=10000)`, ""},

		{"cluster and sentinel", map[string]string{"AUTHENTIK_REDIS__CLUSTER__ADDRS": "c1", "AUTHENTIK_REDIS__SENTINEL__MASTER": "m", "AUTHENTIK_REDIS__SENTINEL__ADDRS": "s1"},
			"", "AUTHENTIK_REDIS__CLUSTER__ADDRS: set together with AUTHENTIK_REDIS__SENTINEL__MASTER, AUTHENTIK_REDIS__SENTINEL__ADDRS"},
		{"host and cluster", map[string]string{"AUTHENTIK_REDIS__HOST": "r", "AUTHENTIK_REDIS__CLUSTER__ADDRS": "c1"},
			"", "AUTHENTIK_REDIS__HOST: set together with AUTHENTIK_REDIS__CLUSTER__ADDRS"},
		{"host and sentinel", map[string]string{"AUTHENTIK_REDIS__HOST": "r", "AUTHENTIK_REDIS__SENTINEL__MASTER": "m", "AUTHENTIK_REDIS__SENTINEL__ADDRS": "s1"},
			"", "AUTHENTIK_REDIS__HOST: set together with AUTHENTIK_REDIS__SENTINEL__MASTER, AUTHENTIK_REDIS__SENTINEL__ADDRS"},
		{"port with cluster", map[string]string{"AUTHENTIK_REDIS__PORT": "6380", "AUTHENTIK_REDIS__CLUSTER__ADDRS": "c1"},
			"", "AUTHENTIK_REDIS__PORT: has no meaning with Sentinel or Cluster: give each address its port in AUTHENTIK_REDIS__CLUSTER__ADDRS"},
		{"url and sentinel", map[string]string{"OUTPOST_SESSION_URL": "redis://:hunter2@r", "AUTHENTIK_REDIS__SENTINEL__MASTER": "m", "AUTHENTIK_REDIS__SENTINEL__ADDRS": "s1"},
			"", "OUTPOST_SESSION_URL: set together with AUTHENTIK_REDIS__SENTINEL__MASTER, AUTHENTIK_REDIS__SENTINEL__ADDRS"},
		{"sentinel addrs without master", map[string]string{"AUTHENTIK_REDIS__SENTINEL__ADDRS": "s1"},
			"", "AUTHENTIK_REDIS__SENTINEL__ADDRS: set without AUTHENTIK_REDIS__SENTINEL__MASTER"},
		{"sentinel master without addrs", map[string]string{"AUTHENTIK_REDIS__SENTINEL__MASTER": "m"},
			"", "AUTHENTIK_REDIS__SENTINEL__MASTER: set without AUTHENTIK_REDIS__SENTINEL__ADDRS"},
		{"sentinel password alone", map[string]string{"AUTHENTIK_REDIS__SENTINEL__PASSWORD": "hunter2"},
			"", "AUTHENTIK_REDIS__SENTINEL__PASSWORD: set without AUTHENTIK_REDIS__SENTINEL__ADDRS"},
		{"master with space", map[string]string{"AUTHENTIK_REDIS__SENTINEL__MASTER": "my master", "AUTHENTIK_REDIS__SENTINEL__ADDRS": "s1"},
			"", "AUTHENTIK_REDIS__SENTINEL__MASTER: must not contain white space"},
		{"sentinel url as addr", map[string]string{"AUTHENTIK_REDIS__SENTINEL__MASTER": "m", "AUTHENTIK_REDIS__SENTINEL__ADDRS": "redis://:hunter2@s1"},
			"", "AUTHENTIK_REDIS__SENTINEL__ADDRS: want host:port"},
		{"cluster bad port", map[string]string{"AUTHENTIK_REDIS__CLUSTER__ADDRS": "c1:0"}, "", "AUTHENTIK_REDIS__CLUSTER__ADDRS: \"c1:0\": want a port"},
		{"cluster bare ipv6", map[string]string{"AUTHENTIK_REDIS__CLUSTER__ADDRS": "::1"}, "", "AUTHENTIK_REDIS__CLUSTER__ADDRS: \"::1\": want host:port"},
		{"cluster empty list", map[string]string{"AUTHENTIK_REDIS__CLUSTER__ADDRS": " , "}, "", "AUTHENTIK_REDIS__CLUSTER__ADDRS: want a comma list"},
		{"cluster db", map[string]string{"AUTHENTIK_REDIS__CLUSTER__ADDRS": "c1", "AUTHENTIK_REDIS__DB": "2"}, "", "AUTHENTIK_REDIS__DB: a Redis Cluster has only database 0"},
		{"cluster braced prefix", map[string]string{"AUTHENTIK_REDIS__CLUSTER__ADDRS": "c1", "OUTPOST_SESSION_PREFIX": "app{1}:"}, "", "OUTPOST_SESSION_PREFIX: must not contain { or } with a Redis Cluster"},
		{"username alone", map[string]string{"AUTHENTIK_REDIS__USERNAME": "u"}, "", "AUTHENTIK_REDIS__USERNAME: set without AUTHENTIK_REDIS__HOST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, err := Load(mapLookup(tc.env), false)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want one containing %q", err, tc.err)
				}
				for _, secret := range []string{"hunter2", "s3cret"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error shows a password: %v", err)
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
		})
	}
}
