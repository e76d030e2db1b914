package session_test

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/outpost-dev/outpost/internal/pgtest"
	"github.com/outpost-dev/outpost/internal/sessionshape"
	"github.com/outpost-dev/outpost/session"
)

var pgScaleSessions = flag.Int("pg.sessions", 1000000, "sessions in the table for BenchmarkPostgresLookup")

// BenchmarkPostgresLookup is issue 26's scale target: with -pg.sessions
// sessions (a million by default, HS256-shaped like real sign-ins) in the
// store's table, a lookup the read cache cannot answer, from one goroutine
// and from 16, reporting p50 and p99 next to ns/op. The table is filled
// with COPY from records encoded as Save encodes them (Save one by one
// would take most of an hour), then ANALYZEd, as autovacuum would after
// such a load.
func BenchmarkPostgresLookup(b *testing.B) {
	srv := pgtest.Start(b)
	st := pgtest.NewStore(b, srv, session.PostgresOptions{CacheSize: -1})
	defer st.Close()
	n := *pgScaleSessions
	ids := fillPostgres(b, srv, n)
	b.Logf("%d sessions in outpost.sessions: %s on disk with its indexes", n,
		srv.Query(b, `SELECT pg_size_pretty(pg_total_relation_size('outpost.sessions'))`)[0])
	ctx := context.Background()
	for _, g := range []int{1, 16} {
		b.Run(fmt.Sprintf("uncached/goroutines=%d", g), func(b *testing.B) {
			var next atomic.Int64
			lat := make([]time.Duration, b.N)
			var wg sync.WaitGroup
			b.ResetTimer()
			for range g {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1)) - 1
						if i >= b.N {
							return
						}
						id := ids[(i*7919)%len(ids)] // spread over the table
						t0 := time.Now()
						s, err := st.Get(ctx, id)
						lat[i] = time.Since(t0)
						if err != nil || s == nil || s.ID != id {
							b.Errorf("Get(%s): %v, %v", id, s, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// fillPostgres writes n sessions into the store's table with COPY and
// returns their ids.
func fillPostgres(b *testing.B, srv *pgtest.Server, n int) []string {
	ctx := context.Background()
	now := time.Now()
	ids := make([]string, n)
	rows := make([][]any, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f, err := sessionshape.Make(i, now, "HS256")
				if err != nil {
					b.Error(err)
					return
				}
				s := &session.Session{ID: session.NewID(), Provider: f.Provider, Claims: f.Claims, Sub: f.Sub, SID: f.SID,
					AccessToken: f.AccessToken, IDToken: f.IDToken, RefreshToken: f.RefreshToken,
					TokenExpiry: f.TokenExpiry, CreatedAt: f.CreatedAt, ExpiresAt: f.ExpiresAt}
				rec, err := session.EncodeRecord(s)
				if err != nil {
					b.Error(err)
					return
				}
				ids[i] = s.ID
				rows[i] = []any{s.ID, s.Provider, s.Sub, s.SID, []byte(rec), s.CreatedAt, s.ExpiresAt}
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	conn, err := pgx.Connect(ctx, srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	t0 := time.Now()
	copied, err := conn.CopyFrom(ctx, pgx.Identifier{"outpost", "sessions"},
		[]string{"id", "provider", "sub", "sid", "data", "created_at", "expires_at"}, pgx.CopyFromRows(rows))
	if err != nil || copied != int64(n) {
		b.Fatalf("COPY: %d rows, %v", copied, err)
	}
	if _, err := conn.Exec(ctx, `ANALYZE outpost.sessions`); err != nil {
		b.Fatal(err)
	}
	b.Logf("copied %d sessions in %s", n, time.Since(t0).Round(time.Millisecond))
	return ids
}
