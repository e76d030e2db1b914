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
// (`harness bare`), the tracing scenario's collector stand-in (`harness
// otlp-sink`) and the session scale checks (`harness sessions-memory`,
// `harness sessions-redis`), so each runs in a process of its own whose
// memory can be read.
package main

import (
	"cmp"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
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
	// oldFloor adds the floor before issue 25 (a copy buffer allocated per
	// request) to the proxy-mode scenarios.
	oldFloor bool
	// symbols keeps the symbol table in the outposts built (for perf),
	// which the shipped build strips.
	symbols bool
	// outpostEnv is extra environment for every outpost started.
	outpostEnv []string
	// baseline is a git revision whose outpost is measured beside this
	// tree's in the same rounds (before/after); baselineBin is its binary.
	baseline, baselineBin string
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
		case "otlp-sink":
			otlpSinkCommand(os.Args[2:])
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
	flag.StringVar(&only, "only", "", "comma-separated scenarios to run (default: all): proxy,assertion,bearer,redirect,websocket,forward,tracing,redis,redis-cluster,postgresql,providers")
	flag.BoolVar(&cfg.scale, "scale", true, "run the scale checks")
	flag.BoolVar(&cfg.symbols, "symbols", false, "build the outposts with their symbol table and DWARF, for perf and pprof; the default strips them as the Makefile and the Dockerfile do (-s -w), which changes RSS by a few MB")
	flag.BoolVar(&cfg.oldFloor, "old-floor", false, "also measure the old, handicapped floor (a copy buffer allocated per request) in proxy mode")
	flag.StringVar(&cfg.baseline, "baseline", "", "a git revision (e.g. a commit before a change) whose outpost is built and measured in the same rounds as this tree's, log to a file: the before/after of a change")
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
	buildOutpost(cfg, "", cfg.outpost, "the outpost")
	if cfg.baseline != "" {
		cfg.baselineBin = buildBaseline(cfg)
	}
	run(cfg, printMachine(cfg))
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

// printMachine prints the machine and the load, and returns them in one
// line for the summary table.
func printMachine(cfg config) string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	wrkVersion, _ := exec.Command(cfg.wrk, "-v").CombinedOutput()
	wrkName := strings.Join(strings.SplitN(strings.TrimSpace(string(wrkVersion)), " ", 3)[:2], " ")
	fmt.Printf("machine: %s, %d CPUs, %s; load average %s\n", model, runtime.NumCPU(), runtime.Version(), loadAverage())
	fmt.Printf("load: %s, %d threads, %d connections, %d rounds of %s per target, order rotating; medians\n",
		wrkName, cfg.threads, cfg.conns, cfg.rounds, cfg.duration)
	fmt.Println("everything (load generator, proxies, upstream, core, nginx, redis) shares these CPUs: compare ratios, not absolute numbers")
	return fmt.Sprintf("Measured %s: %s, %d CPUs, %s, %s -t%d -c%d, %d rounds of %s per target (order rotating), load average %s at the start",
		time.Now().Format("2006-01-02"), model, runtime.NumCPU(), runtime.Version(), wrkName, cfg.threads, cfg.conns, cfg.rounds, cfg.duration, loadAverage())
}

// loadAverage is /proc/loadavg's 1, 5 and 15 minute figures.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// world is everything that runs during the load scenarios.
type world struct {
	cfg                        config
	upstream, bare, core       *proc
	redis                      *proc
	upAddr, bareAddr, coreAddr string
	// outpost serves the app at outAddr with its access log to a file;
	// quiet is a second outpost serving the same site at quietAddr with
	// the access log off (the core's log_level warning).
	outAddr, metricsAddr        string
	quietAddr, quietMetricsAddr string
	outpost, quiet              *proc
	// baseline serves the same site at baseAddr as a reference the
	// outpost is compared with in the same rounds: the outpost built from
	// -baseline, or this tree's as a scenario compares it (withReference).
	// baseName says which, as the reports name it.
	baseAddr, baseMetricsAddr string
	baseline                  *proc
	baseName                  string
	// nginx protects the app with the outpost (the forward floors start
	// their own, see forwardAuth).
	nginx      *proc
	ngxOutAddr string
	redisAddr  string
	coreFile   string
	// reports are the load scenarios measured so far, for the summary.
	reports []report
}

const (
	benchUser        = "bench"
	benchPassword    = "bench-password"
	benchAppPassword = "bench-app-password"
	outpostToken     = "bench-outpost-token-0123456789abcdef"
	quietToken       = "bench-outpost-quiet-token-0123456789"
)

// The outposts' access logs, as the reports name them.
const (
	logToFile = "to a file"
	logOff    = "off (log_level warning)"
)

func run(cfg config, machine string) {
	w := &world{cfg: cfg}
	w.upAddr, w.coreAddr = freeAddr(), freeAddr()
	w.outAddr, w.metricsAddr = freeAddr(), freeAddr()
	w.quietAddr, w.quietMetricsAddr = freeAddr(), freeAddr()
	w.ngxOutAddr = freeAddr()
	w.baseAddr, w.baseMetricsAddr = freeAddr(), freeAddr()
	if cfg.baseline != "" {
		w.baseName = "built from " + cfg.baseline
	}
	w.upstream = start(cfg.dir, "upstream", nil, cfg.self, "upstream", "--listen", w.upAddr)
	waitTCP(w.upstream, w.upAddr, 10*time.Second)
	floor := w.startBare("bare")
	w.bare, w.bareAddr = floor.proc, floor.addr
	w.coreFile = filepath.Join(cfg.dir, "core.yaml")
	writeCoreConfig(w, 0)
	w.core = start(cfg.dir, "devcore", nil, cfg.outpost, "devcore", "--config", w.coreFile, "--listen", w.coreAddr)
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
	w.startQuiet(nil)
	w.startBaseline(nil)

	signedIn := func(dial string) []string {
		return []string{"Cookie: " + signInVia("http://"+w.outAddr, dial, benchUser, benchPassword), "Accept: text/html"}
	}
	if cfg.want("proxy") {
		w.proxyMode("proxy session (memory)", "/", signedIn, 200, "ok bench", true, "")
	}
	if cfg.want("assertion") {
		// Issue 27: the signed identity assertion on (ES256, signed once
		// per session and served from its cache), against the same
		// ceiling; the baseline runs with the same variable.
		env := []string{"OUTPOST_ASSERTION__ENABLED=true"}
		w.startOutpost(env)
		w.startQuiet(env)
		w.startBaseline(env)
		w.proxyMode("proxy session (memory, assertion)", "/", signedIn, 200, "ok bench", true, "")
		w.requireAssertions()
		w.startOutpost(nil)
		w.startQuiet(nil)
		w.startBaseline(nil)
	}
	if cfg.want("bearer") {
		tok := bearerToken("http://"+w.coreAddr, "app-client", benchUser, benchAppPassword)
		h := []string{"Authorization: Bearer " + tok, "Accept: application/json"}
		w.proxyMode("bearer token", "/api/v1/query", func(string) []string { return h }, 200, "ok bench", true, "")
	}
	if cfg.want("redirect") {
		w.proxyMode("unauthenticated (302)", "/", func(string) []string { return []string{"Accept: text/html"} }, 302, "", false,
			"the outpost answers 302 itself; the floor proxies a 200")
	}
	if cfg.want("websocket") {
		w.compareWebsocket(signIn("http://"+w.outAddr, benchUser, benchPassword))
	}
	if cfg.want("forward") && w.nginx != nil {
		w.forwardAuth()
	}
	if cfg.want("tracing") {
		w.tracingScenario(signedIn)
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
			w.startQuiet(env)
			w.startBaseline(env)
			w.proxyMode(name, "/", signedIn, 200, "ok bench", true, "")
		}
	}
	if cfg.want("redis-cluster") && w.redis != nil {
		w.redisClusterScenario()
	}
	if cfg.want("postgresql") {
		w.postgresScenario()
	}
	w.quiet.stop()
	w.baseline.stop()
	machine += ", " + loadAverage() + " at the end of the load scenarios"
	if cfg.scale && cfg.want("providers") {
		w.providerSwap()
	}
	if cfg.scale && cfg.sessions > 0 && (len(cfg.only) == 0 || cfg.only["sessions"]) {
		sessionScale(w)
	}
	printMarkdown(machine, w.reports)
}

// startOutpost (re)starts the outpost on its fixed address with extra env
// and waits until its configuration is loaded. Its log (the access log at
// level info) goes to a file, as deployed.
func (w *world) startOutpost(env []string) {
	w.outpost.stop()
	w.outpost = w.launchOutpost("outpost", outpostToken, w.outAddr, w.metricsAddr, env)
}

// startQuiet (re)starts the second outpost, whose access log is off: its
// outpost in the devcore has log_level warning (the core's level wins over
// AUTHENTIK_LOG_LEVEL, which says the same).
func (w *world) startQuiet(env []string) {
	w.quiet.stop()
	w.quiet = w.launchOutpost("outpost-quiet", quietToken, w.quietAddr, w.quietMetricsAddr, append([]string{"AUTHENTIK_LOG_LEVEL=warning"}, env...))
}

// startBaseline (re)starts the outpost built from -baseline, if any, on its
// own address: the same outpost of the core as the main one (a second
// replica), its access log to a file.
func (w *world) startBaseline(env []string) {
	if w.cfg.baselineBin == "" {
		return
	}
	w.baseline.stop()
	w.baseline = w.launch(w.cfg.baselineBin, "outpost-baseline", outpostToken, w.baseAddr, w.baseMetricsAddr, env)
}

// withReference runs measure with this tree's outpost, started with env
// and called name, in the baseline's place (the -baseline revision sits
// it out and is restarted afterwards): the scenario's before/after row is
// then what the scenario's setting costs against name, in the same rounds.
func (w *world) withReference(name string, env []string, measure func()) {
	w.baseline.stop()
	was := w.baseName
	w.baseName = name
	w.baseline = w.launch(w.cfg.outpost, "outpost-reference", outpostToken, w.baseAddr, w.baseMetricsAddr, env)
	measure()
	w.baseline.stop()
	w.baseline, w.baseName = nil, was
	w.startBaseline(nil)
}

// baselineAccess is how the baseline's log is kept, as the reports name it.
func (w *world) baselineAccess() string { return logToFile + ", " + w.baseName }

// baselineLabel is the baseline's row in a scenario's report.
func (w *world) baselineLabel() string { return w.baseName + ", log to a file" }

func (w *world) launchOutpost(name, token, addr, metricsAddr string, env []string) *proc {
	return w.launch(w.cfg.outpost, name, token, addr, metricsAddr, env)
}

func (w *world) launch(bin, name, token, addr, metricsAddr string, env []string) *proc {
	base := []string{
		"AUTHENTIK_HOST=http://" + w.coreAddr + "/",
		"AUTHENTIK_TOKEN=" + token,
		"AUTHENTIK_LISTEN__HTTP=" + addr,
		"AUTHENTIK_LISTEN__HTTPS=127.0.0.1:0",
		"AUTHENTIK_LISTEN__METRICS=" + metricsAddr,
		// nginx reaches the outpost from 127.0.0.2 (proxy_bind); wrk from
		// 127.0.0.1 is an untrusted client like any browser.
		"AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS=127.0.0.2/32",
		"AUTHENTIK_LOG_LEVEL=info",
		"OUTPOST_LISTEN__MAX_WEBSOCKETS_PER_CLIENT=" + fmt.Sprint(cmp.Or(w.cfg.conns*2, 128)),
	}
	base = append(base, w.cfg.outpostEnv...)
	p := start(w.cfg.dir, name, append(base, env...), bin, "serve")
	waitHTTP(p, "http://"+metricsAddr+"/outpost.goauthentik.io/ready", http.StatusOK, 60*time.Second)
	return p
}

// proxyMode measures one proxy-mode scenario in the same rounds: the floor
// (a bare proxy), the identity ceiling (unless ceiling is false), the
// outpost with its access log to a file and the outpost with it off.
// headers(dial) are the headers of a client of the outpost served at dial
// ("": the main one), which must answer status and body; the floors are
// sent the main outpost's.
func (w *world) proxyMode(name, path string, headers func(dial string) []string, status int, body string, ceiling bool, note string) {
	site, quiet := "http://"+w.outAddr+path, "http://"+w.quietAddr+path
	h := headers("")
	hq := append(slices.Clip(headers(w.quietAddr)), "Host: "+w.outAddr)
	expect(site, h, status, body)
	expect(quiet, hq, status, body)
	app := func(p *proc) procs { return procs{p, w.upstream} }
	parts := []string{"proxy", "app"}
	r := report{name: name, note: note}
	floor := w.httpTarget("floor (bare proxy, pooled buffers)", "", "http://"+w.bareAddr+path, h, app(w.bare), parts)
	targets := []target{floor}
	if w.cfg.oldFloor {
		old := w.startBare("bare-old", "--unpooled")
		defer old.stop()
		targets = append(targets, w.httpTarget("old floor (a copy buffer per request)", "", "http://"+old.addr+path, h, app(old.proc), parts))
	}
	if ceiling {
		ceil, identity := w.startCeiling(name, h, hq)
		defer ceil.stop()
		r.identity = identity
		expect("http://"+ceil.addr+path, h, status, body)
		targets = append(targets, w.httpTarget("identity ceiling (bare + fixed identity)", "", "http://"+ceil.addr+path, h, app(ceil.proc), parts))
	}
	targets = append(targets,
		w.httpTarget("outpost, log to a file", logToFile, site, h, app(w.outpost), parts),
		w.httpTarget("outpost, log off", logOff, quiet, hq, app(w.quiet), parts))
	if w.baseline != nil {
		hb := append(slices.Clip(headers(w.baseAddr)), "Host: "+w.outAddr)
		expect("http://"+w.baseAddr+path, hb, status, body)
		targets = append(targets, w.httpTarget(w.baselineLabel(), w.baselineAccess(),
			"http://"+w.baseAddr+path, hb, app(w.baseline), parts))
	}
	ss := w.measure(targets...)
	r.floor, ss = ss[0], ss[1:]
	if w.cfg.oldFloor {
		r.oldFloor, ss = ss[0], ss[1:]
	}
	if ceiling {
		r.ceiling, ss = ss[0], ss[1:]
	}
	if w.baseline != nil {
		r.baseline, ss = ss[len(ss)-1], ss[:len(ss)-1]
	}
	r.outposts = ss
	w.add(r)
}

func (w *world) add(r report) {
	r.print()
	w.reports = append(w.reports, r)
}

// target is one side of a comparison: how to load it for a while, and the
// processes a request passes (the first one's RSS is reported; an outpost
// first has its log measured).
type target struct {
	label, access string
	run           func(time.Duration) result
	procs         procs
	parts         []string
}

func (w *world) httpTarget(label, access, url string, headers []string, ps procs, parts []string) target {
	return target{label: label, access: access, procs: ps, parts: parts,
		run: func(d time.Duration) result { return runWrk(w.cfg, url, headers, d) }}
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

// measure drives each target cfg.rounds times and returns each one's
// runs and medians. The order rotates every round, and reverses every
// other, so that no target always runs first or always follows the same
// one (with two targets: floor, outpost; then outpost, floor). An
// outpost's log file is emptied before each run and its size read after.
func (w *world) measure(targets ...target) []*series {
	cfg := w.cfg
	if cfg.warmup > 0 {
		for _, t := range targets {
			t.run(cfg.warmup)
		}
	}
	one := func(t target) result {
		p := t.procs[0]
		if t.access != "" {
			p.truncateLog()
		}
		resetPeak(p.pid())
		each0, c0 := t.procs.cpuTime()
		r := t.run(cfg.duration)
		r.peakMB = peakMB(p.pid())
		each1, c1 := t.procs.cpuTime()
		n := r.rps * cfg.duration.Seconds()
		r.cpuPerReq = perOp(c1-c0, n)
		for j := range each1 {
			r.parts = append(r.parts, perOp(each1[j]-each0[j], n))
		}
		if t.access != "" && n > 0 {
			time.Sleep(100 * time.Millisecond) // lines still in a buffer
			r.logPerReq = float64(p.logSize()) / n
			p.truncateLog()
		}
		return r
	}
	out := make([]*series, len(targets))
	for j, t := range targets {
		out[j] = &series{label: t.label, access: t.access, parts: t.parts}
	}
	for i := range cfg.rounds {
		for _, j := range roundOrder(len(targets), i) {
			out[j].runs = append(out[j].runs, one(targets[j]))
		}
	}
	for _, s := range out {
		s.med = median(s.runs)
	}
	return out
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

// compareWebsocket measures message round trips on open sockets through
// the floor and the outpost (whose access log has one line a socket, not
// a message: no second outpost).
func (w *world) compareWebsocket(cookie string) {
	hdr := http.Header{"Cookie": {cookie}}
	ws := func(label, access, url string, p *proc) target {
		return target{label: label, access: access, procs: procs{p},
			run: func(d time.Duration) result { return runWebsocket(w.cfg, url, hdr, d) }}
	}
	ss := w.measure(ws("floor (bare proxy, pooled buffers)", "", "ws://"+w.bareAddr+"/ws", w.bare),
		ws("outpost, log to a file", logToFile, "ws://"+w.outAddr+"/ws", w.outpost))
	w.add(report{name: "websocket round trip", unit: "msg/s", floor: ss[0], outposts: ss[1:], note: "messages/s on open sockets"})
}

func perOp(cpu time.Duration, ops float64) time.Duration {
	if ops <= 0 {
		return 0
	}
	return time.Duration(float64(cpu) / ops)
}

// requireAssertions stops the harness unless the outpost handed out
// assertions from its cache: a scenario that measured the outpost without
// them would report the wrong thing. It prints how many were signed and
// how many came from the cache.
func (w *world) requireAssertions() {
	resp, err := http.Get("http://" + w.metricsAddr + "/metrics")
	if err != nil {
		fatalf("assertion scenario: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	count := map[string]float64{}
	for _, l := range strings.Split(string(b), "\n") {
		for _, r := range []string{"signed", "cached", "failed"} {
			if v, ok := strings.CutPrefix(l, `outpost_assertion_signed_total{result="`+r+`"} `); ok {
				count[r], _ = strconv.ParseFloat(v, 64)
			}
		}
	}
	fmt.Printf("assertions handed out by the outpost logging to a file: %.0f signed, %.0f from the cache, %.0f failed\n",
		count["signed"], count["cached"], count["failed"])
	if count["cached"] == 0 {
		fatalf("assertion scenario: the outpost served no cached assertion (outpost_assertion_signed_total)")
	}
}
