package session_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/redistest"
	"github.com/outpost-dev/outpost/session"
	"github.com/outpost-dev/outpost/session/sessiontest"
	"github.com/redis/go-redis/v9"
)

// The Redis store on Redis Sentinel (a master and a replica, three
// sentinels) and on a Redis Cluster (three masters), started for real.

func sentinelOptions(st *redistest.Sentinel, prefix string) session.RedisOptions {
	return session.RedisOptions{Prefix: prefix, Failover: &redis.FailoverOptions{
		MasterName: redistest.SentinelMaster, SentinelAddrs: st.Addrs(), SentinelPassword: st.SentinelPassword,
		Password: st.Password, MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second,
	}}
}

func clusterOptions(c *redistest.Cluster, prefix string) session.RedisOptions {
	return session.RedisOptions{Prefix: prefix, Cluster: &redis.ClusterOptions{
		Addrs: c.Addrs(), Password: c.Password, MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second,
	}}
}

func openStore(t *testing.T, o session.RedisOptions) *session.RedisStore {
	t.Helper()
	st, err := session.NewRedisStore(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestRedisSentinelConformance(t *testing.T) {
	st := redistest.StartSentinel(t, redistest.SentinelOptions{Password: "data-pw", SentinelPassword: "sentinel-pw"})
	n := 0
	sessiontest.Run(t, func(t *testing.T) session.Store {
		n++
		s, err := session.NewRedisStore(sentinelOptions(st, fmt.Sprintf("conf%d:", n)))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestRedisClusterConformance(t *testing.T) {
	c := redistest.StartCluster(t, redistest.ClusterOptions{Password: "cluster-pw"})
	n := 0
	sessiontest.Run(t, func(t *testing.T) session.Store {
		n++
		s, err := session.NewRedisStore(clusterOptions(c, fmt.Sprintf("conf%d:", n)))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// haTopology is a Redis deployment two replicas' stores share.
type haTopology struct {
	name     string
	open     func(t *testing.T, prefix string) *session.RedisStore
	down, up func()
}

func haTopologies(t *testing.T) []haTopology {
	st := redistest.StartSentinel(t, redistest.SentinelOptions{Password: "data-pw", SentinelPassword: "sentinel-pw"})
	c := redistest.StartCluster(t, redistest.ClusterOptions{Password: "cluster-pw"})
	return []haTopology{
		{name: "sentinel", open: func(t *testing.T, p string) *session.RedisStore { return openStore(t, sentinelOptions(st, p)) }, down: st.Kill, up: st.Restart},
		{name: "cluster", open: func(t *testing.T, p string) *session.RedisStore { return openStore(t, clusterOptions(c, p)) }, down: c.Kill, up: c.Restart},
	}
}

// Two replicas on Sentinel or Cluster: a sign-out, a SESSION_END (by sid)
// and a refresh through one reach the other's cache and watchers within a
// second; Redis going away fails closed on both, and its return serves
// again without a restart.
func TestRedisHAReplicas(t *testing.T) {
	for _, topo := range haTopologies(t) {
		t.Run(topo.name, func(t *testing.T) {
			ctx := context.Background()
			a, b := topo.open(t, "rep:"), topo.open(t, "rep:")
			waitSubscribed(t, a, b)
			revoked := make(chan []string, 10)
			b.OnRevoke(func(ids []string) { revoked <- ids })
			heard := func(want string) {
				t.Helper()
				select {
				case ids := <-revoked:
					if fmt.Sprint(ids) != want {
						t.Errorf("b heard %v, want %s", ids, want)
					}
				case <-time.After(time.Second):
					t.Fatalf("b's watcher never heard %s", want)
				}
			}
			gone := func(id string) func() bool {
				return func() bool { _, err := b.Get(ctx, id); return errors.Is(err, session.ErrNotFound) }
			}
			s1 := &session.Session{ID: "s1", Provider: "p", Sub: "alice", SID: "core-1", AccessToken: "t1", ExpiresAt: time.Now().Add(time.Hour)}
			s2 := &session.Session{ID: "s2", Provider: "p", Sub: "alice", SID: "core-2", AccessToken: "t1", ExpiresAt: time.Now().Add(time.Hour)}
			for _, s := range []*session.Session{s1, s2} {
				if err := a.Save(ctx, s); err != nil {
					t.Fatal(err)
				}
				if _, err := b.Get(ctx, s.ID); err != nil { // cached on b now
					t.Fatal(err)
				}
			}

			s1.AccessToken = "t2"
			if err := a.Save(ctx, s1); err != nil {
				t.Fatal(err)
			}
			eventually(t, time.Second, func() bool { g, err := b.Get(ctx, "s1"); return err == nil && g.AccessToken == "t2" })

			if n, err := a.DeleteBySID(ctx, "core-1"); err != nil || n != 1 {
				t.Fatalf("DeleteBySID = %d, %v", n, err)
			}
			eventually(t, time.Second, gone("s1"))
			heard("[s1]")
			if _, err := b.Get(ctx, "s2"); err != nil {
				t.Fatalf("the other core session went too: %v", err)
			}
			if n, err := a.DeleteBySub(ctx, "alice"); err != nil || n != 1 {
				t.Fatalf("DeleteBySub = %d, %v", n, err)
			}
			eventually(t, time.Second, gone("s2"))
			heard("[s2]")

			// Redis away: every read fails, cached or not, never "no
			// session"; back: served again by itself.
			s3 := &session.Session{ID: "s3", Provider: "p", Sub: "bob", ExpiresAt: time.Now().Add(time.Hour)}
			if err := a.Save(ctx, s3); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Get(ctx, "s3"); err != nil {
				t.Fatal(err)
			}
			topo.down()
			for _, st := range []*session.RedisStore{a, b} {
				eventually(t, 2*time.Second, func() bool {
					_, err := st.Get(ctx, "s3")
					return err != nil && !errors.Is(err, session.ErrNotFound)
				})
			}
			if _, err := a.DeleteBySub(ctx, "nobody"); err == nil {
				t.Error("DeleteBySub succeeded with redis down")
			}
			topo.up()
			for _, st := range []*session.RedisStore{a, b} {
				eventually(t, 10*time.Second, func() bool { _, err := st.Get(ctx, "s3"); return err == nil })
			}
			waitSubscribed(t, a, b)
			if err := a.Delete(ctx, "s3"); err != nil {
				t.Fatal(err)
			}
			eventually(t, time.Second, gone("s3"))
		})
	}
}

// Sentinel promotes the replica when the master dies: a session saved
// before is still there, reads meanwhile fail (never "no session"), and
// both replicas serve and hear revocations through the new master.
func TestRedisSentinelFailover(t *testing.T) {
	st := redistest.StartSentinel(t, redistest.SentinelOptions{Password: "data-pw", SentinelPassword: "sentinel-pw"})
	ctx := context.Background()
	a, b := openStore(t, sentinelOptions(st, "fo:")), openStore(t, sentinelOptions(st, "fo:"))
	waitSubscribed(t, a, b)
	s := &session.Session{ID: "s1", Provider: "p", Sub: "alice", SID: "core-1", ExpiresAt: time.Now().Add(time.Hour)}
	if err := a.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	st.Sync()
	old := st.Master()
	old.Kill()

	var failures, served int
	var wrong []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, errA := a.Get(ctx, "s1")
		_, errB := b.Get(ctx, "s1")
		for _, err := range []error{errA, errB} {
			switch {
			case err == nil:
				served++
			case errors.Is(err, session.ErrNotFound):
				wrong = append(wrong, "not found")
			default:
				failures++
			}
		}
		if errA == nil && errB == nil && failures > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not served on both within 30 s of the master's death: %d failures, %v", failures, errors.Join(errA, errB))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(wrong) > 0 {
		t.Errorf("during the failover the session read as gone %d times", len(wrong))
	}
	if failures == 0 {
		t.Error("no read failed while there was no master")
	}
	if st.Master() == old {
		t.Fatal("served again, but the sentinels still name the dead master")
	}
	waitSubscribed(t, a, b)
	if n, err := a.DeleteBySID(ctx, "core-1"); err != nil || n != 1 {
		t.Fatalf("DeleteBySID on the new master = %d, %v", n, err)
	}
	eventually(t, time.Second, func() bool { _, err := b.Get(ctx, "s1"); return errors.Is(err, session.ErrNotFound) })
}

// On a cluster a session's hash, the index sets naming it and the expiry
// set counting it share one slot; sessions spread over every master; and
// deleting by sid or sub, and counting, find them in every bucket.
func TestRedisClusterKeyLayout(t *testing.T) {
	c := redistest.StartCluster(t, redistest.ClusterOptions{})
	st := openStore(t, clusterOptions(c, "lay:"))
	ctx := context.Background()
	const n = 60
	for i := range n {
		s := &session.Session{ID: fmt.Sprint("sess-", i), Provider: "p", Sub: "alice", SID: fmt.Sprint("core-", i%3), ExpiresAt: time.Now().Add(time.Hour)}
		if err := st.Save(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	rc := c.Client()
	defer rc.Close()
	slot := func(key string) int64 { return rc.ClusterKeySlot(ctx, key).Val() }
	var mu sync.Mutex
	keysOn := map[string][]string{}
	if err := rc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		keys, err := m.Keys(ctx, "lay:*").Result()
		mu.Lock()
		keysOn[m.Options().Addr] = keys
		mu.Unlock()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	sessionSlot := map[string]int64{} // id → its hash's slot
	holders := 0
	for _, keys := range keysOn {
		held := false
		for _, k := range keys {
			if i := strings.Index(k, "}s:"); i >= 0 {
				sessionSlot[k[i+3:]] = slot(k)
				held = true
			}
		}
		if held {
			holders++
		}
	}
	if len(sessionSlot) != n {
		t.Fatalf("found %d session hashes, want %d", len(sessionSlot), n)
	}
	if holders != len(c.Nodes) {
		t.Errorf("sessions on %d of %d masters", holders, len(c.Nodes))
	}
	indexed := map[string]int{}
	for _, keys := range keysOn {
		for _, k := range keys {
			var members []string
			switch {
			case strings.Contains(k, "}sid:"), strings.Contains(k, "}sub:"):
				members = rc.SMembers(ctx, k).Val()
			case strings.HasSuffix(k, "}exp"):
				members = rc.ZRange(ctx, k, 0, -1).Val()
			case strings.Contains(k, "}s:"):
				continue
			default:
				t.Errorf("key without a bucket tag: %s", k)
				continue
			}
			for _, id := range members {
				indexed[id]++
				if slot(k) != sessionSlot[id] {
					t.Errorf("%s (slot %d) names %s, whose hash is in slot %d", k, slot(k), id, sessionSlot[id])
				}
			}
		}
	}
	for id := range sessionSlot {
		if indexed[id] != 3 { // its sid set, its sub set, the expiry set
			t.Errorf("%s is in %d index and expiry sets, want 3", id, indexed[id])
		}
	}

	if got, err := st.Len(ctx); err != nil || got != n {
		t.Errorf("Len = %d, %v; want %d", got, err, n)
	}
	if got, err := st.DeleteBySID(ctx, "core-1"); err != nil || got != n/3 {
		t.Errorf("DeleteBySID = %d, %v; want %d", got, err, n/3)
	}
	if got, err := st.DeleteBySub(ctx, "alice"); err != nil || got != n-n/3 {
		t.Errorf("DeleteBySub = %d, %v; want %d", got, err, n-n/3)
	}
	if got, err := st.Len(ctx); err != nil || got != 0 {
		t.Errorf("Len after the deletions = %d, %v", got, err)
	}
	var left []string
	_ = rc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		keys := m.Keys(ctx, "lay:*").Val()
		mu.Lock()
		left = append(left, keys...)
		mu.Unlock()
		return nil
	})
	if len(left) != 0 {
		t.Errorf("keys left after every session was deleted: %v", left)
	}
}

// A prefix with a brace would replace the buckets' hash tags on a
// cluster: refused.
func TestRedisClusterRefusesBracedPrefix(t *testing.T) {
	_, err := session.NewRedisStore(session.RedisOptions{Prefix: "app{x}:", Cluster: &redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}}})
	if err == nil || !strings.Contains(err.Error(), "brace") {
		t.Errorf("NewRedisStore = %v, want a refusal of the prefix", err)
	}
}
