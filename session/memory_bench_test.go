package session

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// The memory store's Get as every signed-in request does it, alone and
// from many goroutines at once (issue 10).
func BenchmarkMemoryGet(b *testing.B) {
	m := NewMemoryStore(MemoryOptions{})
	b.Cleanup(func() { _ = m.Close() })
	now := time.Now()
	ids := make([]string, 1000)
	for i := range ids {
		s := &Session{
			ID: NewID(), Provider: "app", Sub: fmt.Sprint("sub", i), SID: fmt.Sprint("sid", i),
			Claims: map[string]any{
				"sub": fmt.Sprint("sub", i), "preferred_username": "alice", "email": "alice@example.com",
				"name": "Alice", "groups": []any{"ops", "developers"}, "entitlements": []any{},
				"ak_proxy": map[string]any{"user_attributes": map[string]any{"additionalHeaders": map[string]any{"X-Team": "platform"}}},
			},
			AccessToken: "token", ExpiresAt: now.Add(time.Hour), TokenExpiry: now.Add(time.Hour),
		}
		if err := m.Save(context.Background(), s); err != nil {
			b.Fatal(err)
		}
		ids[i] = s.ID
	}
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := m.Get(ctx, ids[i%len(ids)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := m.Get(ctx, ids[i%len(ids)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	})
}
