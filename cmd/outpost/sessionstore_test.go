package main

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/config"
	"github.com/outpost-dev/outpost/session"
)

// OUTPOST_SESSION_CACHE_SIZE reaches the memory store: with the cache on, a
// session looked up twice is the same decoded copy; with 0, each lookup
// decodes its own.
func TestMemoryStoreCacheSizeFromEnv(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		size   int
		shared bool
	}{{"default size", session.DefaultMemoryCacheSize, true}, {"size 0", 0, false}} {
		t.Run(c.name, func(t *testing.T) {
			st, kind, err := newSessionStore(config.Env{Sessions: config.Sessions{CacheSize: c.size}}, log, sessionHooks{})
			if err != nil || kind != "memory" {
				t.Fatalf("newSessionStore = %s, %v", kind, err)
			}
			defer st.Close()
			if err := st.Save(ctx, &session.Session{ID: "a", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			first, _ := st.Get(ctx, "a")
			second, _ := st.Get(ctx, "a")
			if (first == second) != c.shared {
				t.Errorf("cache size %d: two lookups shared one copy = %v, want %v", c.size, first == second, c.shared)
			}
		})
	}
}
