package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/outpost-dev/outpost/internal/sessionshape"
	"github.com/outpost-dev/outpost/session"
	"github.com/redis/go-redis/v9"
)

// providerSwap puts 1,000 more providers in force while the signed-in app is
// under load, then takes them away again. Once the devcore serves the new
// file, the outpost is told to refresh with SIGUSR1 (a TRIGGER_UPDATE would
// wait for the outpost's random HA offset of up to 9 s first); the time
// reported runs from that signal to the first request routed by the new
// configuration: the paginated REST fetch (11 pages), the build and the
// swap. The load's failed requests across both swaps must be 0. Last, how
// long an outpost takes to start with them.
func (w *world) providerSwap() {
	const extra = 1000
	writeCoreConfig(w, 0)
	w.startOutpost(nil)
	site := "http://" + w.outAddr
	cookie := signIn(site, benchUser, benchPassword)
	h := []string{"Cookie: " + cookie, "Accept: text/html"}
	expect(site+"/", h, 200, "ok bench")

	loadFor := 12 * time.Second
	done := make(chan result, 1)
	go func() { done <- runWrk(w.cfg, site+"/", h, loadFor) }()
	time.Sleep(2 * time.Second)

	routes := func(host string) bool {
		req, _ := http.NewRequest("GET", site+"/", nil)
		req.Host = host
		req.Header.Set("Accept", "text/html")
		resp, err := noRedirect.Do(req)
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusFound
	}
	swap := func(n int, wantRouted bool) time.Duration {
		writeCoreConfig(w, n)
		w.waitCoreProviders(n + 2)
		t0 := time.Now()
		_ = w.outpost.cmd.Process.Signal(syscall.SIGUSR1)
		for time.Since(t0) < 60*time.Second {
			if routes(extraHost(extra)) == wantRouted {
				return time.Since(t0)
			}
			time.Sleep(time.Millisecond)
		}
		fatalf("the outpost did not pick up the change within 60 s")
		return 0
	}
	up := swap(extra, true)
	time.Sleep(3 * time.Second)
	down := swap(0, false)
	r := <-done
	fmt.Printf("\nconfiguration swap under load (%d connections, %.0f req/s during it): to %d providers %s, back to 2 providers %s; failed requests: %d (target: swap < 200 ms, 0 failed)\n",
		w.cfg.conns, r.rps, extra+2, fmtDur(up), fmtDur(down), r.errors)
	if r.errors > 0 {
		fmt.Printf("  failed requests by kind (wrk): %s\n", r.errorKinds)
	}
	fmt.Println("  (SIGUSR1 to first request routed by the new configuration: 11 REST pages from the devcore, validation, build, swap; the build + swap alone: BenchmarkUpdate in ./proxy)")

	writeCoreConfig(w, extra)
	w.waitCoreProviders(extra + 2)
	t0 := time.Now()
	w.startOutpost(nil)
	ready := time.Since(t0)
	time.Sleep(2 * time.Second)
	fmt.Printf("outpost start-up with %d providers: ready in %s, idle RSS %.1f MB\n", extra+2, fmtDur(ready), rssMB(w.outpost.pid()))
	w.outpost.stop()
	writeCoreConfig(w, 0)
}

var noRedirect = &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// sessionScale runs the session checks in processes of their own: the
// memory store with HS256 tokens (authentik without a signing key, the
// devcore) and with RS256 tokens (authentik with a certificate), then Redis.
func sessionScale(w *world) {
	n := strconv.Itoa(w.cfg.sessions)
	fmt.Println()
	for _, alg := range []string{"HS256", "RS256"} {
		out, err := exec.Command(w.cfg.self, "sessions-memory", "-n", n, "-alg", alg).CombinedOutput()
		if err != nil {
			fatalf("sessions-memory: %v\n%s", err, out)
		}
		fmt.Print(string(out))
	}
	if w.cfg.redis == "" {
		return
	}
	addr := freeAddr()
	rp := startRedis(w.cfg, "redis-sessions", addr)
	defer rp.stop()
	out, err := exec.Command(w.cfg.self, "sessions-redis", "-n", n, "-addr", addr).CombinedOutput()
	if err != nil {
		fatalf("sessions-redis: %v\n%s", err, out)
	}
	fmt.Print(string(out))
}

// scaleSession is session i of the shape the scale checks store
// (internal/sessionshape: real-shaped tokens signed with alg, every value
// of its own per session).
func scaleSession(i int, now time.Time, alg string) *session.Session {
	f, err := sessionshape.Make(i, now, alg)
	if err != nil {
		fatalf("%v", err)
	}
	return &session.Session{
		ID: session.NewID(), Provider: f.Provider, Claims: f.Claims, Sub: f.Sub, SID: f.SID,
		AccessToken: f.AccessToken, IDToken: f.IDToken, RefreshToken: f.RefreshToken,
		TokenExpiry: f.TokenExpiry, CreatedAt: f.CreatedAt, ExpiresAt: f.ExpiresAt,
	}
}

func heapMB() float64 {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}

// heapSpans says where process memory goes beyond the live heap: spans
// partly free (objects freed among live ones cannot go back to the
// system), the runtime's own metadata, and free memory not yet returned.
func heapSpans() string {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	mb := func(b uint64) float64 { return float64(b) / (1 << 20) }
	return fmt.Sprintf("heap spans in use %.0f MB of which free %.0f MB, runtime metadata %.0f MB, idle not returned %.0f MB",
		mb(ms.HeapInuse), mb(ms.HeapInuse-ms.HeapAlloc), mb(ms.GCSys+ms.MSpanSys+ms.MCacheSys+ms.BuckHashSys+ms.OtherSys), mb(ms.HeapIdle-ms.HeapReleased))
}

// lookups times Get of random sessions from g goroutines for d.
func lookups(get func(ctx context.Context, id string) error, ids []string, g int, d time.Duration) (perSec float64, p50, p99 time.Duration) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		lat   []time.Duration
		fails atomic.Int64
	)
	end := time.Now().Add(d)
	t0 := time.Now()
	for range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			ctx := context.Background()
			for time.Now().Before(end) {
				id := ids[rand.IntN(len(ids))]
				s := time.Now()
				if err := get(ctx, id); err != nil {
					fails.Add(1)
				}
				mine = append(mine, time.Since(s))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if f := fails.Load(); f > 0 {
		fatalf("%d lookups failed", f)
	}
	slices.Sort(lat)
	return float64(len(lat)) / time.Since(t0).Seconds(), lat[len(lat)/2], lat[len(lat)*99/100]
}

// fmtLookup prints a lookup time with sub-microsecond resolution.
func fmtLookup(d time.Duration) string {
	if d < 10*time.Microsecond {
		return fmt.Sprintf("%.2fµs", float64(d)/float64(time.Microsecond))
	}
	return fmtDur(d)
}

// hotSessions is how many sessions the "hot" lookups cycle through: people
// active right now, fewer than the store's cache of decoded sessions holds.
const hotSessions = 1000

func sessionsMemoryCommand(args []string) {
	fs := flag.NewFlagSet("sessions-memory", flag.ExitOnError)
	n := fs.Int("n", 1000000, "sessions")
	alg := fs.String("alg", "HS256", "token signatures: HS256 or RS256")
	_ = fs.Parse(args)
	now := time.Now()
	sample := scaleSession(0, now, *alg)
	before := heapMB()
	rssBefore := rssMB(os.Getpid())
	st := session.NewMemoryStore(session.MemoryOptions{MaxSessions: *n + 1})
	defer st.Close()
	ctx := context.Background()
	ids := make([]string, *n)
	t0 := time.Now()
	for i := range *n {
		s := scaleSession(i, now, *alg)
		ids[i] = s.ID
		if err := st.Save(ctx, s); err != nil {
			fatalf("save: %v", err)
		}
	}
	took := time.Since(t0)
	idsMB := float64(*n) * (16 + 64) / (1 << 20) // the harness's own id list (52-byte ids)
	heap := heapMB() - before - idsMB
	rss := rssMB(os.Getpid()) - rssBefore - idsMB
	claims, _ := json.Marshal(sample.Claims)
	fmt.Printf("memory store, %d sessions, %s tokens (access %d B, ID %d B, refresh %d B, claims JSON %d B): heap %.0f MB (%.2f KB per session), process RSS +%.0f MB (target < 1 GB); saved in %s\n",
		*n, *alg, len(sample.AccessToken), len(sample.IDToken), len(sample.RefreshToken), len(claims),
		heap, heap*1024/float64(*n), rss, fmtDur(took))
	fmt.Printf("  (heap and RSS without the harness's own list of ids, %.0f MB; %s)\n", idsMB, heapSpans())
	get := func(ctx context.Context, id string) error { _, err := st.Get(ctx, id); return err }
	g := runtime.NumCPU() * 4
	// Unmeasured: heapMB returned every free page to the system, and the
	// first collector cycle of the lookups would fault its headroom back
	// in (half a gigabyte and more of pages zeroed by the kernel), which a
	// process serving for a while has long done.
	lookups(get, ids, g, 5*time.Second)
	for _, c := range []struct {
		name string
		ids  []string
	}{{fmt.Sprintf("hot (%d sessions in turn)", hotSessions), ids[:min(hotSessions, len(ids))]}, {fmt.Sprintf("cold (any of %d)", *n), ids}} {
		one, p50, p99 := lookups(get, c.ids, 1, 2*time.Second)
		par, pp50, pp99 := lookups(get, c.ids, g, 2*time.Second)
		fmt.Printf("  lookup, %s: 1 goroutine %.0f/s (p50 %s, p99 %s); %d goroutines %.0f/s (p50 %s, p99 %s)\n",
			c.name, one, fmtLookup(p50), fmtLookup(p99), g, par, fmtLookup(pp50), fmtLookup(pp99))
	}
	heap = heapMB() - before - idsMB
	rss = rssMB(os.Getpid()) - rssBefore - idsMB
	fmt.Printf("  after the lookups: heap %.0f MB (%.2f KB per session), process RSS +%.0f MB\n", heap, heap*1024/float64(*n), rss)
}

func sessionsRedisCommand(args []string) {
	fs := flag.NewFlagSet("sessions-redis", flag.ExitOnError)
	n := fs.Int("n", 1000000, "sessions")
	addr := fs.String("addr", "", "redis address (an empty server)")
	alg := fs.String("alg", "HS256", "token signatures: HS256 or RS256")
	_ = fs.Parse(args)
	client := redis.NewClient(&redis.Options{Addr: *addr, PoolSize: 64})
	ctx := context.Background()
	usedMB := func() float64 {
		info, err := client.Info(ctx, "memory").Result()
		if err != nil {
			fatalf("redis INFO: %v", err)
		}
		for _, l := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(l, "used_memory:"); ok {
				b, _ := strconv.ParseFloat(v, 64)
				return b / (1 << 20)
			}
		}
		return 0
	}
	st, err := session.NewRedisStore(session.RedisOptions{Client: &redis.Options{Addr: *addr, PoolSize: 64}, CacheSize: -1})
	if err != nil {
		fatalf("%v", err)
	}
	defer st.Close()
	before := usedMB()
	now := time.Now()
	ids := make([]string, *n)
	var next atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= *n {
					return
				}
				s := scaleSession(i, now, *alg)
				ids[i] = s.ID
				if err := st.Save(ctx, s); err != nil {
					fatalf("save: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(t0)
	used := usedMB() - before
	size, _ := json.Marshal(scaleSession(0, now, *alg))
	fmt.Printf("redis store, %d sessions, %s tokens: used_memory +%.0f MB (%.2f KB per session; the session as JSON would be %.1f KB); saved in %s (%.0f/s from 32 goroutines)\n",
		*n, *alg, used, used*1024/float64(*n), float64(len(size))/1024, fmtDur(took), float64(*n)/took.Seconds())
	get := func(ctx context.Context, id string) error {
		_, err := st.Get(ctx, id)
		return err
	}
	one, p50, p99 := lookups(get, ids, 1, 2*time.Second)
	par, pp50, pp99 := lookups(get, ids, 16, 2*time.Second)
	fmt.Printf("  lookup at %d sessions (no cache): 1 goroutine %.0f/s (p50 %s, p99 %s); 16 goroutines %.0f/s (p50 %s, p99 %s)\n",
		*n, one, fmtDur(p50), fmtDur(p99), par, fmtDur(pp50), fmtDur(pp99))
}

// waitCoreProviders waits until the devcore serves n providers to the
// outpost (it reloads its file 200 ms after a change).
func (w *world) waitCoreProviders(n int) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("GET", "http://"+w.coreAddr+"/api/v3/outposts/proxy/?page_size=1", nil)
		req.Header.Set("Authorization", "Bearer "+outpostToken)
		if resp, err := noRedirect.Do(req); err == nil {
			var page struct {
				Pagination struct {
					Count int `json:"count"`
				} `json:"pagination"`
			}
			err := json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
			if err == nil && page.Pagination.Count == n {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	fatalf("the devcore did not serve %d providers within 30 s", n)
}
