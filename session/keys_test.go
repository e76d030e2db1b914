package session_test

import (
	"testing"

	"github.com/outpost-dev/outpost/internal/pgtest"
	"github.com/outpost-dev/outpost/internal/redistest"
	"github.com/outpost-dev/outpost/session"
	"github.com/outpost-dev/outpost/session/sessiontest"
	"github.com/redis/go-redis/v9"
)

// A memory store is shared only inside its process: its "replicas" are
// one store.
func TestMemoryKeyStoreConformance(t *testing.T) {
	stores := map[*testing.T]*session.MemoryStore{}
	sessiontest.RunKeys(t, func(t *testing.T) session.KeyStore {
		if s := stores[t]; s != nil {
			return s
		}
		s := session.NewMemoryStore(session.MemoryOptions{})
		t.Cleanup(func() { _ = s.Close() })
		stores[t] = s
		return s
	})
}

func TestRedisKeyStoreConformance(t *testing.T) {
	srv := redistest.Start(t)
	sessiontest.RunKeys(t, func(t *testing.T) session.KeyStore {
		s, err := session.NewRedisStore(session.RedisOptions{Client: &redis.Options{Addr: srv.Addr(), Password: srv.Password}, Prefix: "keys:"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestPostgresKeyStoreConformance(t *testing.T) {
	srv := pgtest.Start(t)
	sessiontest.RunKeys(t, func(t *testing.T) session.KeyStore {
		// One schema: every replica migrates it, as at a rolling start.
		s := pgtest.NewStore(t, srv, session.PostgresOptions{Schema: "keys"})
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

// On Sentinel and Cluster the keys are single-key commands, which any
// slot takes; the replicas still converge on one value.
func TestRedisHAKeyStoreConformance(t *testing.T) {
	t.Run("sentinel", func(t *testing.T) {
		st := redistest.StartSentinel(t, redistest.SentinelOptions{Password: "data-pw", SentinelPassword: "sentinel-pw"})
		sessiontest.RunKeys(t, func(t *testing.T) session.KeyStore { return openStore(t, sentinelOptions(st, "keys:")) })
	})
	t.Run("cluster", func(t *testing.T) {
		c := redistest.StartCluster(t, redistest.ClusterOptions{Password: "cluster-pw"})
		sessiontest.RunKeys(t, func(t *testing.T) session.KeyStore { return openStore(t, clusterOptions(c, "keys:")) })
	})
}
