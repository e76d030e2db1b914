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
	b.Run("cached", func(b *testing.B) { benchmarkMemoryGet(b, MemoryOptions{}) })
	// Every lookup decodes the record: what a session not used recently
	// costs on its first request.
	b.Run("decode", func(b *testing.B) { benchmarkMemoryGet(b, MemoryOptions{CacheSize: -1}) })
}

func benchmarkMemoryGet(b *testing.B, opts MemoryOptions) {
	m := NewMemoryStore(opts)
	b.Cleanup(func() { _ = m.Close() })
	now := time.Now()
	ids := make([]string, 1000)
	for i := range ids {
		// A devcore sign-in each (recordSession), with its own sub and sid.
		s := recordSession(b)
		s.Sub, s.SID = fmt.Sprint("sub", i), fmt.Sprint("sid", i)
		s.ExpiresAt = now.Add(time.Hour)
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

// Save as a sign-in or a refresh does it, devcore-shaped tokens included:
// the record's encoding is paid here.
func BenchmarkMemorySave(b *testing.B) {
	m := NewMemoryStore(MemoryOptions{})
	b.Cleanup(func() { _ = m.Close() })
	s := recordSession(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Save(context.Background(), s); err != nil {
			b.Fatal(err)
		}
	}
}

// The record alone: encoding and decoding a devcore sign-in.
func BenchmarkRecord(b *testing.B) {
	s := recordSession(b)
	rec, err := encodeRecord(s)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = encodeRecord(s)
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = decodeRecord(rec)
		}
	})
}
