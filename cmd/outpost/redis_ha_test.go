package main

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/redistest"
)

// The outpost binary on Redis Sentinel and Redis Cluster, started for
// real: two replicas, the replica set's whole run of testReplicasShareSessions
// (alternating requests, a restart, the store away and back, a refresh
// under load, sign-out, SESSION_END within 1 s), and a Sentinel failover.

func sentinelEnv(st *redistest.Sentinel) []string {
	return []string{
		"AUTHENTIK_REDIS__SENTINEL__MASTER=" + redistest.SentinelMaster,
		"AUTHENTIK_REDIS__SENTINEL__ADDRS=" + strings.Join(st.Addrs(), ","),
		"AUTHENTIK_REDIS__SENTINEL__PASSWORD=" + st.SentinelPassword,
		"AUTHENTIK_REDIS__PASSWORD=" + st.Password,
	}
}

func clusterEnv(c *redistest.Cluster) []string {
	return []string{"AUTHENTIK_REDIS__CLUSTER__ADDRS=" + strings.Join(c.Addrs(), ","), "AUTHENTIK_REDIS__PASSWORD=" + c.Password}
}

func TestReplicasShareSessionsThroughRedisSentinel(t *testing.T) {
	st := redistest.StartSentinel(t, redistest.SentinelOptions{Password: "data-pw", SentinelPassword: "sentinel-pw"})
	testReplicasShareSessions(t, st.Kill, st.Restart, sentinelEnv(st)...)
}

func TestReplicasShareSessionsThroughRedisCluster(t *testing.T) {
	c := redistest.StartCluster(t, redistest.ClusterOptions{Password: "cluster-pw"})
	testReplicasShareSessions(t, c.Kill, c.Restart, clusterEnv(c)...)
}

// The master dies: Sentinel promotes the replica. Meanwhile both outposts
// answer 503 (never a pass, never a sign-in); after it they serve the same
// person, still signed in.
func TestReplicasSurviveSentinelFailover(t *testing.T) {
	st := redistest.StartSentinel(t, redistest.SentinelOptions{Password: "data-pw", SentinelPassword: "sentinel-pw"})
	rs := newReplicaSet(t, 600, sentinelEnv(st)...)
	for i := range rs.procs {
		if out := rs.procs[i].output(); !strings.Contains(out, `"sessions in redis"`) || !strings.Contains(out, "sentinel master="+redistest.SentinelMaster) {
			t.Fatalf("replica %d did not log its store:\n%s", i, out)
		}
	}
	c := rs.client(t)
	rs.login(t, c)
	for i := range 2 {
		if !rs.signedInOn(t, c, i) {
			t.Fatalf("replica %d does not serve the session", i)
		}
	}
	st.Sync()
	old := st.Master()
	old.Kill()

	unavailable := 0
	served := [2]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for !served[0] || !served[1] || unavailable == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("within 30 s of the master's death: %d answers 503, served on replica 0: %v, 1: %v", unavailable, served[0], served[1])
		}
		for i := range 2 {
			code, _, body := do(t, rs.on(c, i), "http://"+replicaHost+"/during-failover")
			switch {
			case code == http.StatusServiceUnavailable:
				unavailable++
				served[i] = false // still settling: it must serve again
			case code == http.StatusOK && body == `upstream saw /during-failover as "alice"`:
				served[i] = true
			default:
				t.Fatalf("replica %d during the failover: %d %s", i, code, body)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st.Master() == old {
		t.Fatal("serving again, but the sentinels still name the dead master")
	}
	// Revocations go through the new master to both replicas.
	code, at, _ := do(t, c, "http://"+replicaHost+"/outpost.goauthentik.io/sign_out")
	if code != 200 || !strings.HasPrefix(at, rs.core+"/application/o/app/end-session/") {
		t.Fatalf("sign-out after the failover ended at %d %s", code, at)
	}
	for i := range 2 {
		if rs.signedInOn(t, c, i) {
			t.Errorf("replica %d still serves the session signed out after the failover", i)
		}
	}
}

// A cluster master with an evicting policy is refused at start, by name.
func TestRedisClusterEvictionPolicyCheckedOnEveryMaster(t *testing.T) {
	c := redistest.StartCluster(t, redistest.ClusterOptions{})
	nc := c.NodeClient(2)
	if err := nc.ConfigSet(context.Background(), "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatal(err)
	}
	_ = nc.Close()
	cfg := t.TempDir() + "/providers.yaml"
	if err := os.WriteFile(cfg, []byte(standaloneYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append([]string{"AUTHENTIK_LISTEN__HTTP=" + freeAddr(t), "AUTHENTIK_LISTEN__METRICS=" + freeAddr(t)}, clusterEnv(c)...)
	p := start(t, env, "--config", cfg)
	if code := p.wait(t, 30*time.Second); code == 0 {
		t.Fatal("started on a cluster with an evicting master")
	}
	if out := p.output(); !strings.Contains(out, "maxmemory-policy is allkeys-lru on cluster master "+c.Nodes[2].Addr()) {
		t.Errorf("the refusal does not name the policy and the node:\n%s", out)
	}
}

// Settings that cannot be meant stop the outpost at start, naming the
// variables; passwords never show.
func TestRedisTopologyRefusedAtStart(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"cluster and sentinel", []string{"AUTHENTIK_REDIS__CLUSTER__ADDRS=c1:6379", "AUTHENTIK_REDIS__SENTINEL__MASTER=m", "AUTHENTIK_REDIS__SENTINEL__ADDRS=s1"},
			"AUTHENTIK_REDIS__CLUSTER__ADDRS: set together with AUTHENTIK_REDIS__SENTINEL__MASTER, AUTHENTIK_REDIS__SENTINEL__ADDRS"},
		{"host and cluster", []string{"AUTHENTIK_REDIS__HOST=r", "AUTHENTIK_REDIS__CLUSTER__ADDRS=c1:6379"},
			"AUTHENTIK_REDIS__HOST: set together with AUTHENTIK_REDIS__CLUSTER__ADDRS"},
		{"sentinel without master", []string{"AUTHENTIK_REDIS__SENTINEL__ADDRS=s1", "AUTHENTIK_REDIS__SENTINEL__PASSWORD=hunter2"},
			"AUTHENTIK_REDIS__SENTINEL__ADDRS: set without AUTHENTIK_REDIS__SENTINEL__MASTER"},
		{"url and cluster", []string{"OUTPOST_SESSION_URL=redis://:hunter2@r/0", "AUTHENTIK_REDIS__CLUSTER__ADDRS=c1:6379"},
			"OUTPOST_SESSION_URL: set together with AUTHENTIK_REDIS__CLUSTER__ADDRS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := append([]string{"AUTHENTIK_LISTEN__HTTP=" + freeAddr(t), "AUTHENTIK_LISTEN__METRICS=" + freeAddr(t)}, tc.env...)
			p := start(t, env)
			if code := p.wait(t, 30*time.Second); code == 0 {
				t.Fatal("exit 0")
			}
			out := p.output()
			if !strings.Contains(out, tc.want) {
				t.Errorf("want %q in:\n%s", tc.want, out)
			}
			if strings.Contains(out, "hunter2") {
				t.Errorf("a password is in the output:\n%s", out)
			}
		})
	}
}
