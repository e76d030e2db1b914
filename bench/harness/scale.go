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

// sessionScale runs the session checks in processes of their own.
func sessionScale(w *world) {
	n := strconv.Itoa(w.cfg.sessions)
	fmt.Println()
	out, err := exec.Command(w.cfg.self, "sessions-memory", "-n", n).CombinedOutput()
	if err != nil {
		fatalf("sessions-memory: %v\n%s", err, out)
	}
	fmt.Print(string(out))
	if w.cfg.redis == "" {
		return
	}
	addr := freeAddr()
	rp := startRedis(w.cfg, "redis-sessions", addr)
	defer rp.stop()
	out, err = exec.Command(w.cfg.self, "sessions-redis", "-n", n, "-addr", addr).CombinedOutput()
	if err != nil {
		fatalf("sessions-redis: %v\n%s", err, out)
	}
	fmt.Print(string(out))
}

// scaleSession is session i as a sign-in at the devcore stores it: the
// usual claims (two groups, an additional header), a 900-byte access
// token, a 900-byte ID token and a refresh token. Every string is its own,
// as when decoded from a token.
func scaleSession(i int, now time.Time) *session.Session {
	sub := fmt.Sprintf("%064x", i)
	sid := fmt.Sprintf("sid-%032x", i)
	user := fmt.Sprintf("user%07d", i)
	claims := map[string]any{
		"iss": "http://core/application/o/app/", "sub": sub, "aud": "app-client",
		"exp": float64(now.Add(time.Hour).Unix()), "iat": float64(now.Unix()), "auth_time": float64(now.Unix()),
		"acr": "goauthentik.io/providers/oauth2/default", "sid": sid,
		"email": user + "@example.com", "email_verified": true, "name": "Person " + user,
		"given_name": "Person " + user, "preferred_username": user, "nickname": user,
		"groups": []any{"ops", "developers"}, "entitlements": []any{},
		"ak_proxy": map[string]any{
			"user_attributes": map[string]any{"additionalHeaders": map[string]any{"X-Team": "platform"}},
			"is_superuser":    false,
		},
	}
	tok := func(tag string) string { return tag + strings.Repeat("x", 900-len(tag)-8) + fmt.Sprintf("%08x", i) }
	return &session.Session{
		ID: session.NewID(), Provider: "app-client", Claims: claims, Sub: sub, SID: sid,
		AccessToken: tok("at."), IDToken: tok("id."), RefreshToken: fmt.Sprintf("rt.%061x", i),
		TokenExpiry: now.Add(time.Hour), CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour),
	}
}

func heapMB() float64 {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
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

func sessionsMemoryCommand(args []string) {
	fs := flag.NewFlagSet("sessions-memory", flag.ExitOnError)
	n := fs.Int("n", 1000000, "sessions")
	_ = fs.Parse(args)
	before := heapMB()
	rssBefore := rssMB(os.Getpid())
	st := session.NewMemoryStore(session.MemoryOptions{MaxSessions: *n + 1})
	defer st.Close()
	ctx := context.Background()
	now := time.Now()
	ids := make([]string, *n)
	t0 := time.Now()
	for i := range *n {
		s := scaleSession(i, now)
		ids[i] = s.ID
		if err := st.Save(ctx, s); err != nil {
			fatalf("save: %v", err)
		}
	}
	took := time.Since(t0)
	idsMB := float64(*n) * (16 + 52) / (1 << 20) // the harness's own id list
	heap := heapMB() - before - idsMB
	rss := rssMB(os.Getpid()) - rssBefore
	fmt.Printf("memory store, %d sessions: heap %.0f MB (%.2f KB per session), process RSS +%.0f MB (target < 1 GB); saved in %s\n",
		*n, heap, heap*1024/float64(*n), rss, fmtDur(took))
	get := func(ctx context.Context, id string) error { _, err := st.Get(ctx, id); return err }
	one, p50, p99 := lookups(get, ids, 1, 2*time.Second)
	par, pp50, pp99 := lookups(get, ids, runtime.NumCPU()*4, 2*time.Second)
	fmt.Printf("  lookup at %d sessions: 1 goroutine %.0f/s (p50 %s, p99 %s); %d goroutines %.0f/s (p50 %s, p99 %s)\n",
		*n, one, fmtDur(p50), fmtDur(p99), runtime.NumCPU()*4, par, fmtDur(pp50), fmtDur(pp99))
}

func sessionsRedisCommand(args []string) {
	fs := flag.NewFlagSet("sessions-redis", flag.ExitOnError)
	n := fs.Int("n", 1000000, "sessions")
	addr := fs.String("addr", "", "redis address (an empty server)")
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
				s := scaleSession(i, now)
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
	size, _ := json.Marshal(scaleSession(0, now))
	fmt.Printf("redis store, %d sessions: used_memory +%.0f MB (%.2f KB per session; the session JSON is %.1f KB); saved in %s (%.0f/s from 32 goroutines)\n",
		*n, used, used*1024/float64(*n), float64(len(size))/1024, fmtDur(took), float64(*n)/took.Seconds())
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
