// Command harness is the outpost's load benchmark (issue 10, `make bench`).
//
// On 127.0.0.1 it starts a minimal Go upstream, a bare httputil.ReverseProxy
// in front of it (the floor), the stand-in core, the outpost (built from this
// tree) with a signed-in session, nginx and redis-server; then drives the
// floor and the outpost with wrk at fixed concurrency in alternating rounds
// and prints medians: requests/s, p50/p99 latency, peak RSS and the ratio
// outpost / floor. Scale checks follow: a configuration swap to 1,000
// providers under load, a million sessions in the memory store and in
// Redis, and the outpost's idle RSS.
//
// The same binary is also the upstream (`harness upstream`), the floor
// (`harness bare`) and the session scale checks (`harness sessions-memory`,
// `harness sessions-redis`), so each runs in a process of its own whose
// memory can be read.
package main

import (
	"cmp"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

type config struct {
	duration time.Duration
	warmup   time.Duration
	rounds   int
	conns    int
	threads  int
	sessions int
	only     map[string]bool
	scale    bool
	wrk      string
	nginx    string
	redis    string
	dir      string
	self     string
	outpost  string
	repo     string
	// outpostLog keeps the outpost's log in a file (default: /dev/null,
	// since the access log of a load run is gigabytes).
	outpostLog bool
	// outpostEnv is extra environment for every outpost started.
	outpostEnv []string
}

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "upstream":
			upstreamCommand(os.Args[2:])
			return
		case "bare":
			bareCommand(os.Args[2:])
			return
		case "sessions-memory":
			sessionsMemoryCommand(os.Args[2:])
			return
		case "sessions-redis":
			sessionsRedisCommand(os.Args[2:])
			return
		}
	}
	var cfg config
	var only string
	flag.DurationVar(&cfg.duration, "duration", 5*time.Second, "length of one wrk run")
	flag.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "unmeasured run before each scenario's rounds")
	flag.IntVar(&cfg.rounds, "rounds", 5, "alternating rounds per scenario (medians are reported)")
	flag.IntVar(&cfg.conns, "conns", 64, "connections (wrk -c) and websockets")
	flag.IntVar(&cfg.threads, "threads", 2, "wrk threads")
	flag.IntVar(&cfg.sessions, "sessions", 1000000, "sessions for the session scale checks (0: skip them)")
	flag.StringVar(&only, "only", "", "comma-separated scenarios to run (default: all): proxy,bearer,redirect,websocket,forward,redis,providers")
	flag.BoolVar(&cfg.scale, "scale", true, "run the scale checks")
	flag.BoolVar(&cfg.outpostLog, "outpost-log", false, "keep the outpost's log in the work directory")
	flag.Func("outpost-env", "NAME=VALUE for every outpost started (repeatable), e.g. GOGC=200", func(v string) error {
		cfg.outpostEnv = append(cfg.outpostEnv, v)
		return nil
	})
	flag.Parse()
	cfg.only = map[string]bool{}
	for _, s := range strings.Split(only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			cfg.only[s] = true
		}
	}
	var err error
	cfg.wrk = lookPath("wrk", "wrk", true)
	cfg.nginx = lookPath("/usr/sbin/nginx", "nginx", false)
	cfg.redis = lookPath("redis-server", "redis-server", false)
	if cfg.self, err = os.Executable(); err != nil {
		fatalf("%v", err)
	}
	if cfg.repo, err = os.Getwd(); err != nil {
		fatalf("%v", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.repo, "deploy/nginx/outpost-auth.conf")); err != nil {
		fatalf("run from the repository root (make bench): %v", err)
	}
	if cfg.dir, err = os.MkdirTemp("", "outpost-bench-"); err != nil {
		fatalf("%v", err)
	}
	defer os.RemoveAll(cfg.dir)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sig; fatalf("interrupted") }()

	cfg.outpost = filepath.Join(cfg.dir, "outpost")
	build := exec.Command("go", "build", "-trimpath", "-o", cfg.outpost, "./cmd/outpost")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fatalf("building the outpost: %v\n%s", err, out)
	}
	printMachine(cfg)
	run(cfg)
	stopAll()
}

func (c config) want(s string) bool { return len(c.only) == 0 || c.only[s] }

func lookPath(p, pkg string, required bool) string {
	if path, err := exec.LookPath(p); err == nil {
		return path
	}
	if path, err := exec.LookPath(filepath.Base(p)); err == nil {
		return path
	}
	if required {
		fatalf("%s not found: install Debian's %s package (apt-get install %s)", p, pkg, pkg)
	}
	fmt.Printf("note: %s not found (Debian package %s): its scenarios are skipped\n", p, pkg)
	return ""
}

func printMachine(cfg config) {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	wrkVersion, _ := exec.Command(cfg.wrk, "-v").CombinedOutput()
	fmt.Printf("machine: %s, %d CPUs, %s; load average %s\n", model, runtime.NumCPU(), runtime.Version(), load)
	fmt.Printf("load: %s, %d threads, %d connections, %d rounds of %s per side, alternating; medians\n",
		strings.SplitN(strings.TrimSpace(string(wrkVersion)), " ", 3)[:2], cfg.threads, cfg.conns, cfg.rounds, cfg.duration)
	fmt.Println("everything (load generator, proxies, upstream, core, nginx, redis) shares these CPUs: compare ratios, not absolute numbers")
}

// world is everything that runs during the load scenarios.
type world struct {
	cfg                        config
	upstream, bare, core       *proc
	redis                      *proc
	upAddr, bareAddr, coreAddr string
	outAddr, metricsAddr       string
	// nginx protects the app with the outpost (the forward floors start
	// their own, see forwardAuth).
	nginx      *proc
	ngxOutAddr string
	redisAddr  string
	coreFile   string
	outpost    *proc
}

const (
	benchUser        = "bench"
	benchPassword    = "bench-password"
	benchAppPassword = "bench-app-password"
	outpostToken     = "bench-outpost-token-0123456789abcdef"
)

func run(cfg config) {
	w := &world{cfg: cfg}
	w.upAddr, w.bareAddr, w.coreAddr = freeAddr(), freeAddr(), freeAddr()
	w.outAddr, w.metricsAddr = freeAddr(), freeAddr()
	w.ngxOutAddr = freeAddr()
	w.upstream = start(cfg.dir, "upstream", nil, false, cfg.self, "upstream", "--listen", w.upAddr)
	w.bare = start(cfg.dir, "bare", nil, false, cfg.self, "bare", "--listen", w.bareAddr, "--upstream", "http://"+w.upAddr)
	waitTCP(w.upstream, w.upAddr, 10*time.Second)
	waitTCP(w.bare, w.bareAddr, 10*time.Second)
	w.coreFile = filepath.Join(cfg.dir, "core.yaml")
	writeCoreConfig(w, 0)
	w.core = start(cfg.dir, "devcore", nil, false, cfg.outpost, "devcore", "--config", w.coreFile, "--listen", w.coreAddr)
	waitTCP(w.core, w.coreAddr, 20*time.Second)
	if cfg.redis != "" {
		w.redisAddr = freeAddr()
		w.redis = startRedis(cfg, "redis", w.redisAddr)
	}
	if cfg.nginx != "" {
		w.nginx = startNginx(w, "nginx", w.ngxOutAddr, w.outAddr)
	}

	// Idle RSS: a fresh outpost, configuration loaded, nothing asked yet.
	w.startOutpost(nil)
	time.Sleep(2 * time.Second)
	idle := rssMB(w.outpost.pid())
	fmt.Printf("\nidle outpost after start-up (memory store, 2 providers): RSS %.1f MB (target < 20 MB)\n", idle)

	printHeader()
	site := "http://" + w.outAddr
	floor := "http://" + w.bareAddr
	var cookie string
	if cfg.want("proxy") || cfg.want("websocket") || cfg.want("providers") {
		cookie = signIn(site, benchUser, benchPassword)
	}
	if cfg.want("proxy") {
		h := []string{"Cookie: " + cookie, "Accept: text/html"}
		expect(site+"/", h, 200, "ok bench")
		printRow(w.compareHTTP("proxy session (memory)", "bare", floor+"/", site+"/", h, procs{w.bare}, procs{w.outpost}))
	}
	if cfg.want("bearer") {
		tok := bearerToken("http://"+w.coreAddr, "app-client", benchUser, benchAppPassword)
		h := []string{"Authorization: Bearer " + tok, "Accept: application/json"}
		expect(site+"/api/v1/query", h, 200, "ok bench")
		printRow(w.compareHTTP("bearer token", "bare", floor+"/api/v1/query", site+"/api/v1/query", h, procs{w.bare}, procs{w.outpost}))
	}
	if cfg.want("redirect") {
		h := []string{"Accept: text/html"}
		expect(site+"/", h, 302, "")
		r := w.compareHTTP("unauthenticated (302)", "bare", floor+"/", site+"/", h, procs{w.bare}, procs{w.outpost})
		r.note = "outpost answers 302 itself; the floor proxies a 200"
		printRow(r)
	}
	if cfg.want("websocket") {
		printRow(w.compareWebsocket(cookie))
	}
	if cfg.want("forward") && w.nginx != nil {
		w.forwardAuth()
	}
	if cfg.want("redis") && w.redis != nil {
		for _, cache := range []string{"", "0"} {
			env := []string{"OUTPOST_SESSION_URL=redis://" + w.redisAddr + "/0"}
			name := "proxy session (redis)"
			if cache == "0" {
				env = append(env, "OUTPOST_SESSION_CACHE_SIZE=0")
				name = "proxy session (redis, no cache)"
			}
			w.startOutpost(env)
			rc := signIn(site, benchUser, benchPassword)
			h := []string{"Cookie: " + rc, "Accept: text/html"}
			expect(site+"/", h, 200, "ok bench")
			printRow(w.compareHTTP(name, "bare", floor+"/", site+"/", h, procs{w.bare}, procs{w.outpost}))
		}
	}
	if cfg.scale && cfg.want("providers") {
		w.providerSwap()
	}
	if cfg.scale && cfg.sessions > 0 && (len(cfg.only) == 0 || cfg.only["sessions"]) {
		sessionScale(w)
	}
}

// startOutpost (re)starts the outpost on its fixed address with extra env
// and waits until its configuration is loaded.
func (w *world) startOutpost(env []string) {
	if w.outpost != nil {
		w.outpost.stop()
	}
	base := []string{
		"AUTHENTIK_HOST=http://" + w.coreAddr + "/",
		"AUTHENTIK_TOKEN=" + outpostToken,
		"AUTHENTIK_LISTEN__HTTP=" + w.outAddr,
		"AUTHENTIK_LISTEN__HTTPS=127.0.0.1:0",
		"AUTHENTIK_LISTEN__METRICS=" + w.metricsAddr,
		// nginx reaches the outpost from 127.0.0.2 (proxy_bind); wrk from
		// 127.0.0.1 is an untrusted client like any browser.
		"AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS=127.0.0.2/32",
		"AUTHENTIK_LOG_LEVEL=info",
		"OUTPOST_LISTEN__MAX_WEBSOCKETS_PER_CLIENT=" + fmt.Sprint(cmp.Or(w.cfg.conns*2, 128)),
	}
	base = append(base, w.cfg.outpostEnv...)
	w.outpost = start(w.cfg.dir, "outpost", append(base, env...), !w.cfg.outpostLog, w.cfg.outpost, "serve")
	waitHTTP(w.outpost, "http://"+w.metricsAddr+"/outpost.goauthentik.io/ready", http.StatusOK, 60*time.Second)
}

// procs are the processes whose CPU time a side of a comparison counts.
type procs []*proc

// cpuTime is their CPU time, each and summed.
func (ps procs) cpuTime() (each []time.Duration, sum time.Duration) {
	for _, p := range ps {
		t := cpuTime(p.pid())
		each = append(each, t)
		sum += t
	}
	return each, sum
}

// compareHTTP runs the floor and the outpost in alternating rounds. CPU
// time per request is the sum over each side's processes; peak RSS is the
// first one's.
func (w *world) compareHTTP(name, floorName, floorURL, outURL string, headers []string, floorProcs, outProcs procs) row {
	m := w.measureHTTP(headers, target{floorURL, floorProcs}, target{outURL, outProcs})
	return row{name: name, floorName: floorName, floor: m[0], outpost: m[1]}
}

// target is one side of a comparison: where wrk sends its requests, and
// the processes a request passes (the first one's RSS is reported).
type target struct {
	url   string
	procs procs
}

// measureHTTP drives each target with wrk, cfg.rounds times, and returns
// each one's medians. The order rotates every round, and reverses every
// other, so that no target always runs first or always follows the same
// one (with two targets: floor, outpost; then outpost, floor).
func (w *world) measureHTTP(headers []string, targets ...target) []result {
	cfg := w.cfg
	if cfg.warmup > 0 {
		for _, t := range targets {
			runWrk(cfg, t.url, headers, cfg.warmup)
		}
	}
	one := func(t target) result {
		resetPeak(t.procs[0].pid())
		each0, c0 := t.procs.cpuTime()
		r := runWrk(cfg, t.url, headers, cfg.duration)
		r.peakMB = peakMB(t.procs[0].pid())
		each1, c1 := t.procs.cpuTime()
		n := r.rps * cfg.duration.Seconds()
		r.cpuPerReq = perOp(c1-c0, n)
		for j := range each1 {
			r.parts = append(r.parts, perOp(each1[j]-each0[j], n))
		}
		return r
	}
	runs := make([][]result, len(targets))
	for i := range cfg.rounds {
		for _, j := range roundOrder(len(targets), i) {
			runs[j] = append(runs[j], one(targets[j]))
		}
	}
	medians := make([]result, len(targets))
	for j, rs := range runs {
		medians[j] = median(rs)
	}
	return medians
}

// roundOrder is the order of n targets in round i.
func roundOrder(n, i int) []int {
	order := make([]int, n)
	for k := range order {
		order[k] = (i/2 + k) % n
	}
	if i%2 == 1 {
		slices.Reverse(order)
	}
	return order
}

func (w *world) compareWebsocket(cookie string) row {
	cfg := w.cfg
	hdr := http.Header{"Cookie": {cookie}}
	floorURL, outURL := "ws://"+w.bareAddr+"/ws", "ws://"+w.outAddr+"/ws"
	if cfg.warmup > 0 {
		runWebsocket(cfg, floorURL, hdr, cfg.warmup)
		runWebsocket(cfg, outURL, hdr, cfg.warmup)
	}
	var fs, os []result
	for i := range cfg.rounds {
		one := func(url string, p *proc) result {
			resetPeak(p.pid())
			c0 := cpuTime(p.pid())
			r := runWebsocket(cfg, url, hdr, cfg.duration)
			r.peakMB = peakMB(p.pid())
			r.cpuPerReq = perOp(cpuTime(p.pid())-c0, r.rps*cfg.duration.Seconds())
			return r
		}
		if i%2 == 0 {
			fs = append(fs, one(floorURL, w.bare))
			os = append(os, one(outURL, w.outpost))
		} else {
			os = append(os, one(outURL, w.outpost))
			fs = append(fs, one(floorURL, w.bare))
		}
	}
	return row{name: "websocket round trip", floorName: "bare", floor: median(fs), outpost: median(os), note: "messages/s on open sockets"}
}

func perOp(cpu time.Duration, ops float64) time.Duration {
	if ops <= 0 {
		return 0
	}
	return time.Duration(float64(cpu) / ops)
}
