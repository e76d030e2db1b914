package outpostapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/proctest"
)

// sourceRun is a CoreSource running against a test core, with everything its
// handlers saw.
type sourceRun struct {
	src   *CoreSource
	logs  *proctest.Buffer
	snaps chan *Snapshot
	ends  chan SessionEnd
	conns chan bool
	done  chan error

	mu        sync.Mutex
	refreshes []error
	cancel    context.CancelFunc
}

func startSource(t *testing.T, env CoreEndpoint, opts CoreOptions) *sourceRun {
	t.Helper()
	log, logs := newTestLogger(t)
	opts.Logger = log
	if opts.Version == "" {
		opts.Version = "2026.2.2"
	}
	r := &sourceRun{
		src: NewCoreSource(env, opts), logs: logs,
		snaps: make(chan *Snapshot, 100), ends: make(chan SessionEnd, 100), conns: make(chan bool, 100), done: make(chan error, 1),
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		r.done <- r.src.Run(ctx, Handlers{
			OnSnapshot:   func(s *Snapshot) { r.snaps <- s },
			OnSessionEnd: func(e SessionEnd) { r.ends <- e },
			OnConnection: func(c bool) { r.conns <- c },
			OnRefresh: func(err error) {
				r.mu.Lock()
				r.refreshes = append(r.refreshes, err)
				r.mu.Unlock()
			},
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
		if strings.Contains(logs.String(), env.Token) && env.Token != "" {
			t.Error("the token appears in the logs")
		}
	})
	return r
}

func (r *sourceRun) snapshot(t *testing.T, timeout time.Duration) *Snapshot {
	t.Helper()
	select {
	case s := <-r.snaps:
		return s
	case err := <-r.done:
		t.Fatalf("Run returned: %v", err)
	case <-time.After(timeout):
		t.Fatalf("no snapshot within %v", timeout)
	}
	return nil
}

// latestSnapshot drains queued snapshots and returns the newest, waiting for
// one if none is queued.
func (r *sourceRun) latestSnapshot(t *testing.T, timeout time.Duration) *Snapshot {
	t.Helper()
	s := r.snapshot(t, timeout)
	for {
		select {
		case n := <-r.snaps:
			s = n
		default:
			return s
		}
	}
}

// drain discards queued snapshots and returns the newest (nil if none).
func (r *sourceRun) drain() *Snapshot {
	var s *Snapshot
	for {
		select {
		case n := <-r.snaps:
			s = n
		default:
			return s
		}
	}
}

func (r *sourceRun) connState(t *testing.T, want bool, timeout time.Duration) {
	t.Helper()
	select {
	case c := <-r.conns:
		if c != want {
			t.Fatalf("connection state %t, want %t", c, want)
		}
	case <-time.After(timeout):
		t.Fatalf("no connection state change to %t within %v", want, timeout)
	}
}

func (r *sourceRun) refreshErrors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.refreshes...)
}

func providerNames(s *Snapshot) []string {
	var n []string
	for _, p := range s.Providers {
		n = append(n, p.Name)
	}
	return n
}

// quiet waits until the core has seen no request for a second, so that the
// startup refreshes are over before a test measures the next one.
func quiet(t *testing.T, c *fakeCore) {
	t.Helper()
	last, since := -1, time.Now()
	eventually(t, 20*time.Second, "a quiet core", func() bool {
		n := len(c.recorded())
		if n != last {
			last, since = n, time.Now()
		}
		return time.Since(since) >= time.Second
	})
}

func TestCoreSourceHelloAndHandshakeOnTheWire(t *testing.T) {
	t.Parallel()
	core := newFakeCore(t)
	core.start("127.0.0.1:0")
	env := testEnv(t, "http://"+core.Addr+"/?region=eu", fakeToken)
	r := startSource(t, env, CoreOptions{BuildHash: "deadbeef"})
	ws := core.nextWS(t, 10*time.Second)

	// Handshake: path with trailing slash, host query + instance_uuid, no
	// attempt on the first connection, Bearer and User-Agent headers.
	if ws.URL.Path != "/ws/outpost/"+fakeOutpostPK+"/" {
		t.Errorf("path = %s", ws.URL.Path)
	}
	q := ws.URL.Query()
	if q.Get("region") != "eu" || q.Get("instance_uuid") != r.src.InstanceUUID() || q.Has("attempt") {
		t.Errorf("query = %s", ws.URL.RawQuery)
	}
	if got := ws.Header.Get("Authorization"); got != "Bearer "+fakeToken {
		t.Errorf("Authorization = %q", got)
	}
	if got := ws.Header.Get("User-Agent"); got != "goauthentik.io/outpost/2026.2.2+deadbeef" {
		t.Errorf("User-Agent = %q", got)
	}

	// HELLO comes first and carries every key with the right JSON type.
	first := ws.nextFrame(t, 5*time.Second)
	var hello struct {
		Instruction int                        `json:"instruction"`
		Args        map[string]json.RawMessage `json:"args"`
	}
	if err := json.Unmarshal(first, &hello); err != nil || hello.Instruction != InstructionHello {
		t.Fatalf("first frame = %s (%v)", first, err)
	}
	host, _ := os.Hostname()
	want := map[string]string{
		"version": `"2026.2.2"`, "buildHash": `"deadbeef"`, "uuid": `"` + r.src.InstanceUUID() + `"`,
		"golangVersion": `"` + runtime.Version() + `"`, "opensslEnabled": "false", "opensslVersion": `""`,
		"fipsEnabled": "false", "hostname": `"` + host + `"`,
	}
	for k, v := range want {
		if got := string(hello.Args[k]); got != v {
			t.Errorf("HELLO %s = %s, want %s", k, got, v)
		}
	}
	if len(hello.Args) != len(want) {
		t.Errorf("HELLO args = %s", first)
	}

	// And again every 10 s, on the same connection.
	start := time.Now()
	ws.nextOf(t, InstructionHello, 15*time.Second)
	if d := time.Since(start); d < 5*time.Second {
		t.Errorf("second HELLO after %v, want about 10 s", d)
	}
}

func TestCoreSourceStartsWithCoreDown(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	env := testEnv(t, "http://"+addr+"/", fakeToken)
	r := startSource(t, env, CoreOptions{})

	// Nothing listens: the source keeps retrying and reports it.
	eventually(t, 10*time.Second, "a failed attempt reported", func() bool { return len(r.refreshErrors()) > 0 })
	select {
	case s := <-r.snaps:
		t.Fatalf("snapshot without a core: %+v", s)
	case err := <-r.done:
		t.Fatalf("Run gave up: %v", err)
	default:
	}

	core := newFakeCore(t)
	core.providers = testProviders(2)
	core.start(addr)
	s := r.snapshot(t, 20*time.Second)
	if got := providerNames(s); len(got) != 2 || s.Outpost.Name != "fake-outpost" || s.Source != "core" {
		t.Errorf("snapshot = %v %+v", got, s.Outpost)
	}
	core.nextWS(t, 40*time.Second)
	r.connState(t, true, 10*time.Second)
}

func TestCoreSourceManyProvidersArriveWhole(t *testing.T) {
	t.Parallel()
	core := newFakeCore(t)
	core.providers = testProviders(250)
	core.start("127.0.0.1:0")
	r := startSource(t, testEnv(t, core.url(), fakeToken), CoreOptions{})
	s := r.snapshot(t, 10*time.Second)
	if len(s.Providers) != 250 || len(s.Rejected) != 0 {
		t.Fatalf("snapshot has %d providers, %d rejected", len(s.Providers), len(s.Rejected))
	}
	for i, p := range s.Providers {
		if p.PK != i+1 || p.ExternalURL == nil || p.InternalURL == nil {
			t.Fatalf("provider %d: %+v", i, p.ProxyOutpostConfig)
		}
	}
	if s.Outpost.AuthentikHost != "https://auth.example.com" || s.Outpost.LogLevel != "debug" || s.Outpost.RefreshInterval != 300*time.Second {
		t.Errorf("outpost = %+v", s.Outpost)
	}
}

func TestCoreSourceLeavesOutBadProviders(t *testing.T) {
	t.Parallel()
	core := newFakeCore(t)
	good1 := testProvider(1, "alpha", "alpha.example.com")
	badURL := testProvider(2, "bad-url", "x")
	badURL.ExternalHost = "not a url"
	badRegexp := testProvider(3, "bad-regexp", "re.example.com")
	badRegexp.SkipPathRegex = "^/ok$\n^/broken($"
	badMode := testProvider(4, "bad-mode", "mode.example.com")
	badMode.Mode = "reverse"
	dupEarly := testProvider(5, "dup-a", "same.example.com")
	dupLate := testProvider(6, "dup-b", "SAME.example.com")
	good2 := testProvider(7, "zulu", "zulu.example.com")
	core.providers = []ProxyOutpostConfig{good1, badURL, badRegexp, badMode, dupEarly, dupLate, good2}
	core.start("127.0.0.1:0")
	r := startSource(t, testEnv(t, core.url(), fakeToken), CoreOptions{})
	s := r.snapshot(t, 10*time.Second)

	if got := strings.Join(providerNames(s), ","); got != "alpha,dup-b,zulu" {
		t.Errorf("providers = %s, want alpha,dup-b,zulu", got)
	}
	rejected := map[string]string{}
	for _, e := range s.Rejected {
		rejected[e.Provider] = e.Field
	}
	want := map[string]string{"bad-url": "external_host", "bad-regexp": "skip_path_regex", "bad-mode": "mode", "dup-a": "external_host"}
	// Named in the snapshot, for whoever puts it in force to log
	// (cmd/outpost's TestConfigReport).
	if !reflectEqual(rejected, want) {
		t.Errorf("rejected = %v, want %v", rejected, want)
	}
}

func reflectEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestCoreSourceTriggerUpdate(t *testing.T) {
	t.Parallel()
	core := newFakeCore(t)
	core.providers = testProviders(1)
	core.start("127.0.0.1:0")
	r := startSource(t, testEnv(t, core.url(), fakeToken), CoreOptions{})
	ws := core.nextWS(t, 10*time.Second)
	r.latestSnapshot(t, 10*time.Second)
	quiet(t, core)
	r.drain() // the refresh after connecting, if it was separate
	before := core.count("/api/v3/outposts/proxy/")

	core.set(func(c *fakeCore) { c.providers = testProviders(2) })
	sent := time.Now()
	// A burst of triggers is one refresh.
	for range 3 {
		ws.send(t, `{"instruction":2,"args":{}}`)
	}
	s := r.snapshot(t, DefaultTriggerDelayMax+5*time.Second)
	elapsed := time.Since(sent)
	if len(s.Providers) != 2 {
		t.Errorf("refreshed snapshot has %d providers, want 2", len(s.Providers))
	}
	if off := r.src.HAOffset(); elapsed < off {
		t.Errorf("refresh %v after TRIGGER_UPDATE, before the HA offset %v", elapsed, off)
	}
	quiet(t, core)
	// Within the HA offset a burst coalesces into one refresh. With an
	// offset of 0 s the first refresh may start before the rest of the
	// burst arrives, and a trigger after a refresh started rightly causes
	// one more (it may announce a newer change).
	want := 1
	if r.src.HAOffset() == 0 {
		want = 2
	}
	if n := core.count("/api/v3/outposts/proxy/") - before; n < 1 || n > want {
		t.Errorf("%d provider listings after a burst of TRIGGER_UPDATE, want 1 (at most %d with a 0 s offset %v)", n, want, r.src.HAOffset())
	}
}

func TestCoreSourceReconnectsAfterCoreRestart(t *testing.T) {
	t.Parallel()
	core := newFakeCore(t)
	core.providers = testProviders(1)
	core.start("127.0.0.1:0")
	addr := core.Addr
	r := startSource(t, testEnv(t, "http://"+addr+"/?region=eu", fakeToken), CoreOptions{})
	ws1 := core.nextWS(t, 10*time.Second)
	ws1.nextOf(t, InstructionHello, 5*time.Second)
	r.connState(t, true, 5*time.Second)
	r.latestSnapshot(t, 10*time.Second)
	quiet(t, core)
	r.drain()

	core.stop() // closes the websocket with 1012
	r.connState(t, false, 10*time.Second)
	time.Sleep(2 * time.Second) // down long enough for a failed attempt or two
	core.set(func(c *fakeCore) { c.providers = testProviders(3) })
	core.start(addr)

	ws2 := core.nextWS(t, 40*time.Second)
	r.connState(t, true, 5*time.Second)
	q := ws2.URL.Query()
	if q.Get("attempt") == "" || q.Get("attempt") == "0" || q.Get("instance_uuid") != r.src.InstanceUUID() || q.Get("region") != "eu" {
		t.Errorf("reconnect query = %s, want attempt>=1, the same instance_uuid and the host's region", ws2.URL.RawQuery)
	}
	ws2.nextOf(t, InstructionHello, 5*time.Second)
	// The full refresh after reconnecting brings the new providers without
	// any TRIGGER_UPDATE.
	s := r.snapshot(t, 10*time.Second)
	if len(s.Providers) != 3 {
		t.Errorf("snapshot after reconnect has %d providers, want 3", len(s.Providers))
	}
}

// A core that accepts the connection but never answers the websocket
// handshake is given up after the 10 s handshake timeout.
func TestCoreSourceHandshakeThatNeverAnswers(t *testing.T) {
	t.Parallel()
	core := newFakeCore(t)
	core.hangNext = 1
	core.start("127.0.0.1:0")
	r := startSource(t, testEnv(t, core.url(), fakeToken), CoreOptions{})
	r.snapshot(t, 10*time.Second) // REST works meanwhile: the data plane is ready
	ws := core.nextWS(t, DefaultHandshakeTimeout+10*time.Second)
	if ws.URL.Query().Get("attempt") != "1" {
		t.Errorf("query after a hung handshake = %s, want attempt=1", ws.URL.RawQuery)
	}
	ws.nextOf(t, InstructionHello, 5*time.Second)
	r.connState(t, true, 5*time.Second)
}

// A connection that goes silent after the handshake (half-open: no ACKs, no
// pongs) is declared dead after the real 30 s read timeout.
func TestCoreSourceSilentConnection(t *testing.T) {
	t.Parallel()
	core := newFakeCore(t)
	core.silentNext = 1
	core.start("127.0.0.1:0")
	r := startSource(t, testEnv(t, core.url(), fakeToken), CoreOptions{})
	core.nextWS(t, 10*time.Second)
	r.connState(t, true, 5*time.Second)
	r.connState(t, false, DefaultReadTimeout+10*time.Second)
	ws := core.nextWS(t, 10*time.Second)
	if ws.URL.Query().Get("attempt") != "1" {
		t.Errorf("query = %s, want attempt=1", ws.URL.RawQuery)
	}
	ws.nextOf(t, InstructionHello, 5*time.Second)
	r.connState(t, true, 5*time.Second)
}

func TestCoreSourceWrongToken(t *testing.T) {
	t.Parallel()
	core := newFakeCore(t)
	core.token = "the-right-one"
	core.providers = testProviders(1)
	core.start("127.0.0.1:0")
	env := testEnv(t, core.url(), fakeToken)
	r := startSource(t, env, CoreOptions{})

	eventually(t, 15*time.Second, "two rejected attempts", func() bool {
		n := 0
		for _, err := range r.refreshErrors() {
			if errors.Is(err, ErrTokenRejected) {
				n++
			}
		}
		return n >= 2
	})
	if logs := r.logs.String(); !strings.Contains(logs, "rejected AUTHENTIK_TOKEN") {
		t.Errorf("no clear message in the logs:\n%s", logs)
	}
	select {
	case err := <-r.done:
		t.Fatalf("Run gave up: %v", err)
	default:
	}

	core.set(func(c *fakeCore) { c.token = fakeToken })
	r.snapshot(t, 10*time.Second)
	core.nextWS(t, 10*time.Second)
	r.connState(t, true, 5*time.Second)

	// The websocket handshake is rejected the same way, and recovers too.
	core.set(func(c *fakeCore) { c.token = "rotated" })
	addr := core.Addr
	core.stop()
	r.connState(t, false, 5*time.Second)
	core.start(addr)
	eventually(t, 20*time.Second, "a rejected websocket handshake logged", func() bool {
		return strings.Contains(r.logs.String(), "/ws/outpost/"+fakeOutpostPK+"/: HTTP 403: the core rejected AUTHENTIK_TOKEN")
	})
	core.set(func(c *fakeCore) { c.token = fakeToken })
	core.nextWS(t, 40*time.Second)
	r.connState(t, true, 5*time.Second)
}

func TestCoreSourceSessionEnd(t *testing.T) {
	t.Parallel()
	core := newFakeCore(t)
	core.start("127.0.0.1:0")
	r := startSource(t, testEnv(t, core.url(), fakeToken), CoreOptions{})
	ws := core.nextWS(t, 10*time.Second)
	for _, f := range []string{
		`not json`,
		`{"instruction":"4"}`,
		`{"instruction":4,"args":[]}`,
		`{"instruction":4,"args":{"type":"event.session.end"}}`,                                         // no session_id
		`{"instruction":3,"args":{"type":"event.provider.specific","sub_type":"rac","session_id":"x"}}`, // other sub_type
		`{"instruction":4,"args":{"type":"event.session.end","session_id":"` + strings.Repeat("a", 64) + `"}}`,
		`{"instruction":3,"args":{"type":"event.provider.specific","sub_type":"logout","session_id":"legacy-id"}}`,
		`{"instruction":77,"args":{}}`,
		`{"instruction":4,"args":{"session_id":"third"}}`,
	} {
		ws.send(t, f)
	}
	want := []SessionEnd{{SessionID: strings.Repeat("a", 64)}, {SessionID: "legacy-id", Legacy: true}, {SessionID: "third"}}
	for _, w := range want {
		select {
		case got := <-r.ends:
			if got != w {
				t.Errorf("session end = %+v, want %+v", got, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("session end %+v not delivered", w)
		}
	}
	select {
	case got := <-r.ends:
		t.Errorf("unexpected session end %+v", got)
	case <-time.After(200 * time.Millisecond):
	}
	// Malformed frames did not cost the connection.
	select {
	case c := <-r.conns:
		if !c {
			// true was reported at connect; a false would mean a drop.
			t.Error("connection dropped")
		}
	default:
	}
	if !strings.Contains(r.logs.String(), "ignoring malformed message") {
		t.Error("malformed frames not logged")
	}
}

func TestCoreSourceFailedRefreshKeepsLastGood(t *testing.T) {
	t.Parallel()
	core := newFakeCore(t)
	core.providers = testProviders(2)
	// The very first provider fetch fails: no snapshot until it works.
	core.failPath["/api/v3/outposts/proxy/"] = http.StatusInternalServerError
	core.start("127.0.0.1:0")
	r := startSource(t, testEnv(t, core.url(), fakeToken), CoreOptions{})
	eventually(t, 10*time.Second, "failed first refreshes", func() bool { return len(r.refreshErrors()) >= 2 })
	select {
	case s := <-r.snaps:
		t.Fatalf("snapshot from a failed refresh: %+v", s)
	default:
	}
	core.set(func(c *fakeCore) { delete(c.failPath, "/api/v3/outposts/proxy/") })
	first := r.latestSnapshot(t, 20*time.Second)
	quiet(t, core)
	if s := r.drain(); s != nil {
		first = s
	}

	core.set(func(c *fakeCore) { c.failPath["/api/v3/outposts/proxy/"] = http.StatusBadGateway })
	n := len(r.refreshErrors())
	r.src.TriggerRefresh()
	eventually(t, 10*time.Second, "the failed refresh reported", func() bool { return len(r.refreshErrors()) > n })
	var he *HTTPError
	if errs := r.refreshErrors(); !errors.As(errs[len(errs)-1], &he) || he.StatusCode != http.StatusBadGateway {
		t.Errorf("OnRefresh got %v", errs[len(errs)-1])
	}
	select {
	case s := <-r.snaps:
		t.Fatalf("a failed refresh replaced the snapshot: %v", providerNames(s))
	case <-time.After(300 * time.Millisecond):
	}
	if !strings.Contains(r.logs.String(), "keeping the last good configuration") {
		t.Error("failure not logged")
	}

	core.set(func(c *fakeCore) { delete(c.failPath, "/api/v3/outposts/proxy/") })
	r.src.TriggerRefresh()
	s := r.snapshot(t, 10*time.Second)
	if len(s.Providers) != len(first.Providers) || !s.LoadedAt.After(first.LoadedAt) {
		t.Errorf("recovered snapshot = %v", providerNames(s))
	}
}

// With many pages, fetched ahead: a page that fails fails the refresh and
// the last good configuration stays; the outpost object's long provider
// lists do not change what the snapshot says of the outpost.
func TestCoreSourceFailingPageKeepsLastGood(t *testing.T) {
	t.Parallel()
	core := pagesOfProviders(t, 550)
	for i := range core.providers {
		core.providers[i].SkipPathRegex = "^/public/\n^/health$"
	}
	o := &core.outposts[0]
	for _, p := range core.providers {
		o.Providers = append(o.Providers, p.PK)
		o.ProvidersObj = append(o.ProvidersObj, ProviderRef{PK: p.PK, Name: p.Name, Component: "ak-provider-proxy-form"})
	}
	o.RefreshIntervalS = 3600
	core.start("127.0.0.1:0")
	r := startSource(t, testEnv(t, core.url(), fakeToken), CoreOptions{})
	first := r.latestSnapshot(t, 20*time.Second)
	// Refreshes (the first, then one for the websocket coming up) are
	// over once the core is quiet and no outcome has come for a while:
	// validating is slow under the race detector.
	quiet(t, core)
	last, since := len(r.refreshErrors()), time.Now()
	eventually(t, 20*time.Second, "no refresh running", func() bool {
		if n := len(r.refreshErrors()); n != last {
			last, since = n, time.Now()
		}
		return time.Since(since) >= time.Second
	})
	if s := r.drain(); s != nil {
		first = s
	}
	check := func(s *Snapshot) {
		t.Helper()
		if len(s.Providers) != 550 || len(s.Rejected) != 0 {
			t.Fatalf("snapshot has %d providers, %d rejected", len(s.Providers), len(s.Rejected))
		}
		for i, p := range s.Providers {
			if p.PK != i+1 || len(p.SkipPaths) != 2 || p.SkipPaths[0].String() != "^/public/" || !p.SkipPaths[1].MatchString("/health") {
				t.Fatalf("provider %d: pk %d, skip paths %v", i, p.PK, p.SkipPaths)
			}
		}
		if s.Outpost.PK != fakeOutpostPK || s.Outpost.Name != "fake-outpost" || s.Outpost.RefreshInterval != time.Hour || s.Outpost.LogLevel != "debug" {
			t.Errorf("outpost = %+v", s.Outpost)
		}
	}
	check(first)

	core.set(func(c *fakeCore) { c.pageStatus[4] = http.StatusBadGateway })
	n := len(r.refreshErrors())
	r.src.TriggerRefresh()
	eventually(t, 10*time.Second, "the failed refresh reported", func() bool { return len(r.refreshErrors()) > n })
	var he *HTTPError
	if errs := r.refreshErrors(); !errors.As(errs[len(errs)-1], &he) || he.StatusCode != http.StatusBadGateway || !strings.Contains(he.Body, "page 4") {
		t.Errorf("OnRefresh got %v", errs[len(errs)-1])
	}
	select {
	case s := <-r.snaps:
		t.Fatalf("a refresh with a failed page replaced the snapshot: %d providers", len(s.Providers))
	case <-time.After(300 * time.Millisecond):
	}

	core.set(func(c *fakeCore) { delete(c.pageStatus, 4) })
	r.src.TriggerRefresh()
	s := r.snapshot(t, 10*time.Second)
	check(s)
	if !s.LoadedAt.After(first.LoadedAt) {
		t.Error("no new snapshot")
	}
}

func TestCoreSourceNoOutposts(t *testing.T) {
	t.Parallel()
	core := newFakeCore(t)
	core.outposts = nil
	core.start("127.0.0.1:0")
	r := startSource(t, testEnv(t, core.url(), fakeToken), CoreOptions{})
	select {
	case err := <-r.done:
		if !errors.Is(err, ErrNoOutposts) || !strings.Contains(err.Error(), "no outposts found for AUTHENTIK_TOKEN") {
			t.Errorf("err = %v", err)
		}
		r.done <- err // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
}

func TestCoreSourceShutdownClosesWith1000(t *testing.T) {
	t.Parallel()
	core := newFakeCore(t)
	core.start("127.0.0.1:0")
	r := startSource(t, testEnv(t, core.url(), fakeToken), CoreOptions{})
	ws := core.nextWS(t, 10*time.Second)
	r.connState(t, true, 5*time.Second)
	r.cancel()
	select {
	case err := <-r.done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v", err)
		}
		r.done <- err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	select {
	case <-ws.done:
	case <-time.After(5 * time.Second):
		t.Fatal("core's reader still running")
	}
	if ws.CloseCode != 1000 {
		t.Errorf("close code = %d, want 1000", ws.CloseCode)
	}
	r.connState(t, false, time.Second)
}

func TestCoreSourceRootConfigFailureIsNotFatal(t *testing.T) {
	t.Parallel()
	core := newFakeCore(t)
	core.failPath["/api/v3/root/config/"] = http.StatusInternalServerError
	core.providers = testProviders(1)
	core.start("127.0.0.1:0")
	r := startSource(t, testEnv(t, core.url(), fakeToken), CoreOptions{})
	r.snapshot(t, 10*time.Second)
	if !strings.Contains(r.logs.String(), "root config") {
		t.Error("root config failure not logged")
	}
}

func TestCoreSourceOverTLS(t *testing.T) {
	t.Parallel()
	core := newFakeCore(t)
	core.providers = testProviders(1)
	ts := httptest.NewUnstartedServer(core)
	ts.StartTLS()
	core.set(func(c *fakeCore) { c.srv, c.Addr = ts.Config, ts.Listener.Addr().String() })
	env := testEnv(t, "https://"+core.Addr+"/", fakeToken)
	env.Insecure = true
	r := startSource(t, env, CoreOptions{})
	r.snapshot(t, 10*time.Second)
	ws := core.nextWS(t, 10*time.Second)
	ws.nextOf(t, InstructionHello, 5*time.Second)
}

func TestCoreSourceCertificates(t *testing.T) {
	t.Parallel()
	const id = "0b0ec2a9-5d2f-4d8a-9d5e-6d8f0b3c1a11"
	core := newFakeCore(t)
	cert1, key1 := testKeyPair(t, "one")
	core.certs[id] = fakeCert{Fingerprint: "fp1", Cert: cert1, Key: key1}
	withCert := testProvider(1, "tls", "tls.example.com")
	withCert.Certificate = new(string)
	*withCert.Certificate = id
	missing := testProvider(2, "missing-cert", "missing.example.com")
	missing.Certificate = new(string)
	*missing.Certificate = "11111111-2222-4333-8444-555555555555"
	core.providers = []ProxyOutpostConfig{withCert, missing, testProvider(3, "plain", "plain.example.com")}
	core.start("127.0.0.1:0")
	r := startSource(t, testEnv(t, core.url(), fakeToken), CoreOptions{})
	s := r.latestSnapshot(t, 10*time.Second)
	quiet(t, core)
	if n := r.drain(); n != nil {
		s = n
	}

	if got := strings.Join(providerNames(s), ","); got != "tls,plain" {
		t.Errorf("providers = %s", got)
	}
	if len(s.Rejected) != 1 || s.Rejected[0].Provider != "missing-cert" || s.Rejected[0].Field != "certificate" {
		t.Errorf("rejected = %+v", s.Rejected)
	}
	if c := s.Certificates[id]; c.CertPEM != cert1 || c.KeyPEM != key1 || c.Fingerprint != "fp1" || len(s.Certificates) != 1 {
		t.Errorf("certificates = %+v", s.Certificates)
	}
	downloads := func() int { return core.count("/api/v3/crypto/certificatekeypairs/" + id + "/view_certificate/") }
	before := downloads()

	// Same fingerprint: no new download.
	r.src.TriggerRefresh()
	r.snapshot(t, 10*time.Second)
	if downloads() != before {
		t.Errorf("certificate downloaded again with an unchanged fingerprint")
	}
	// New fingerprint: downloaded again.
	cert2, key2 := testKeyPair(t, "two")
	core.set(func(c *fakeCore) { c.certs[id] = fakeCert{Fingerprint: "fp2", Cert: cert2, Key: key2} })
	r.src.TriggerRefresh()
	s = r.snapshot(t, 10*time.Second)
	if downloads() != before+1 || s.Certificates[id].CertPEM != cert2 {
		t.Errorf("downloads %d→%d, cert changed: %t", before, downloads(), s.Certificates[id].CertPEM == cert2)
	}
	// The keypair endpoint fails: the cached certificate keeps serving.
	core.set(func(c *fakeCore) {
		c.failPath["/api/v3/crypto/certificatekeypairs/"+id+"/"] = http.StatusInternalServerError
	})
	r.src.TriggerRefresh()
	s = r.snapshot(t, 10*time.Second)
	if s.Certificates[id].CertPEM != cert2 || providerNames(s)[0] != "tls" {
		t.Errorf("cached certificate not used: %v %+v", providerNames(s), s.Rejected)
	}
}

func testKeyPair(t *testing.T, cn string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{cn}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}))
}

func TestOutpostInfo(t *testing.T) {
	managed := "goauthentik.io/outposts/embedded"
	empty := ""
	cases := []struct {
		name string
		op   Outpost
		want OutpostInfo
	}{
		{"plain", Outpost{PK: "p", Name: "n", Type: "proxy", RefreshIntervalS: 60, Config: map[string]any{"log_level": "warning", "authentik_host": "https://a/"}},
			OutpostInfo{PK: "p", Name: "n", Type: "proxy", LogLevel: "warning", AuthentikHost: "https://a/", RefreshInterval: time.Minute}},
		{"managed keeps the env level", Outpost{Managed: &managed, Config: map[string]any{"log_level": "trace"}},
			OutpostInfo{RefreshInterval: 300 * time.Second}},
		{"empty managed", Outpost{Managed: &empty, RefreshIntervalS: 5, Config: map[string]any{"log_level": "error"}},
			OutpostInfo{LogLevel: "error", RefreshInterval: 30 * time.Second}},
		{"wrong types ignored", Outpost{Config: map[string]any{"log_level": 3, "authentik_host": nil}},
			OutpostInfo{RefreshInterval: 300 * time.Second}},
		{"no config", Outpost{}, OutpostInfo{RefreshInterval: 300 * time.Second}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := outpostInfo(tc.op); got != tc.want {
				t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
			}
		})
	}
}

func TestCoreSourceRequiresHost(t *testing.T) {
	src := NewCoreSource(CoreEndpoint{}, CoreOptions{})
	if err := src.Run(context.Background(), Handlers{}); err == nil || !strings.Contains(err.Error(), "AUTHENTIK_HOST") {
		t.Errorf("err = %v", err)
	}
	if err := src.Run(context.Background(), Handlers{}); err == nil {
		t.Error("second Run accepted")
	}
}

// The periodic refresh follows refresh_interval_s, clamped to at least 30 s.
func TestCoreSourcePeriodicRefresh(t *testing.T) {
	t.Parallel()
	core := newFakeCore(t)
	core.outposts[0].RefreshIntervalS = 1
	core.providers = testProviders(1)
	core.start("127.0.0.1:0")
	r := startSource(t, testEnv(t, core.url(), fakeToken), CoreOptions{})
	prev := r.latestSnapshot(t, 10*time.Second)
	quiet(t, core)
	if s := r.drain(); s != nil {
		prev = s
	}
	if prev.Outpost.RefreshInterval != 30*time.Second {
		t.Errorf("RefreshInterval = %v, want the 30 s clamp", prev.Outpost.RefreshInterval)
	}
	core.set(func(c *fakeCore) { c.providers = testProviders(2) })
	next := r.snapshot(t, 45*time.Second)
	if d := next.LoadedAt.Sub(prev.LoadedAt); d < 29*time.Second {
		t.Errorf("periodic refresh %v after the previous one, want 30 s", d)
	}
	if len(next.Providers) != 2 {
		t.Errorf("periodic refresh has %d providers, want 2", len(next.Providers))
	}
}
