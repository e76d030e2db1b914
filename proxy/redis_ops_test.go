package proxy_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/redistest"
	"github.com/outpost-dev/outpost/internal/webtest"
	"github.com/outpost-dev/outpost/proxy"
	"github.com/outpost-dev/outpost/session"
	"github.com/redis/go-redis/v9"
)

// Redis operations going wrong under a running outpost (issue 21, rows 4-6):
// a replica cut off from Redis by a TCP relay, a second replica that keeps
// its link, index keys lost.

// syncBuffer collects a log for waiting on a line.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// redisStoreAt is redisStore for any address (a relay), logging to log.
func redisStoreAt(t *testing.T, addr string, log *slog.Logger) *session.RedisStore {
	t.Helper()
	s, err := session.NewRedisStore(session.RedisOptions{Client: &redis.Options{Addr: addr, MaxRetries: -1, ReadTimeout: time.Second, DialTimeout: time.Second},
		Prefix: "proxytest:", Log: log})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// replicaPair is two data planes on one Redis: a reaches it through a
// relay the test can cut, b directly. Each has its own devcore with the
// same provider, so a's session cookie is good at b too.
type replicaPair struct {
	redis  *redistest.Server
	relay  *redistest.Relay
	a, b   *stack
	aStore *session.RedisStore
	aLog   *syncBuffer
}

func newReplicaPair(t *testing.T) *replicaPair {
	t.Helper()
	p := &replicaPair{redis: redistest.Start(t), aLog: &syncBuffer{}}
	p.relay = redistest.NewRelay(t, p.redis.Addr())
	p.aStore = redisStoreAt(t, p.relay.Addr(), slog.New(slog.NewJSONHandler(p.aLog, nil)))
	opts := stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]"}
	opts.store = p.aStore
	p.a = newStackWith(t, opts)
	opts.store = redisStoreAt(t, p.redis.Addr(), nil)
	p.b = newStackWith(t, opts)
	return p
}

// as asks site for path with only the session cookie ck, not following
// redirects, and returns the status and the body or Location.
func as(t *testing.T, ck *http.Cookie, site, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", site+path, nil)
	req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	c := &http.Client{Transport: webtest.Navigating(nil), Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(resp)
	if loc := resp.Header.Get("Location"); loc != "" {
		return resp.StatusCode, loc
	}
	return resp.StatusCode, body
}

func servedAsAlice(code int, body string) bool {
	return code == http.StatusOK && strings.Contains(body, `as "alice"`)
}

func signedOutTo(code int, loc string) bool {
	return code == http.StatusFound && strings.Contains(loc, "/outpost.goauthentik.io/start")
}

// Row 5: a replica cut off from Redis while the person signs out on
// another one misses the revocation over pub/sub; once its link is back
// it checks its websockets' sessions again and closes this one.
func TestWebsocketClosedAfterPubSubGap(t *testing.T) {
	p := newReplicaPair(t)
	c := browser(t)
	conn := openEcho(t, p.a, c)
	ck := sessionCookie(t, c, p.a.outpost)
	if code, body := as(t, ck, p.b.outpost, "/on-b"); !servedAsAlice(code, body) {
		t.Fatalf("the session is not served on the other replica: %d %s", code, body)
	}
	p.relay.Cut()
	eventually(t, 3*time.Second, func() bool { return !p.aStore.Subscribed() })
	// Sign-out on b, the way the person does it.
	if code, loc := as(t, ck, p.b.outpost, "/outpost.goauthentik.io/sign_out"); code != http.StatusFound || !strings.Contains(loc, "end-session") {
		t.Fatalf("sign-out on b: %d %s", code, loc)
	}
	if code, loc := as(t, ck, p.b.outpost, "/after"); !signedOutTo(code, loc) {
		t.Fatalf("b still serves the signed-out cookie: %d %s", code, loc)
	}
	time.Sleep(300 * time.Millisecond) // the revocation is long published
	p.relay.Restore()
	waitClosed(t, conn, 3*time.Second)
	if code, loc := as(t, ck, p.a.outpost, "/after"); !signedOutTo(code, loc) {
		t.Errorf("a serves the signed-out cookie once back: %d %s", code, loc)
	}
}

// Row 5, the link stalled rather than broken: this replica's connections
// to Redis hang (new ones work), so its subscription hears nothing while
// its lookups still get through on fresh connections. It checks its
// websockets' sessions every recheck period meanwhile, and closes this one
// without waiting for the subscription.
func TestWebsocketRecheckedWhilePubSubStalled(t *testing.T) {
	defer proxy.SetRecheckWhileDown(300 * time.Millisecond)()
	p := newReplicaPair(t)
	c := browser(t)
	conn := openEcho(t, p.a, c)
	ck := sessionCookie(t, c, p.a.outpost)
	p.relay.Freeze()
	eventually(t, 3*time.Second, func() bool { return !p.aStore.Subscribed() })
	if code, loc := as(t, ck, p.b.outpost, "/outpost.goauthentik.io/sign_out"); code != http.StatusFound || !strings.Contains(loc, "end-session") {
		t.Fatalf("sign-out on b: %d %s", code, loc)
	}
	waitClosed(t, conn, 6*time.Second)
	if p.aStore.Subscribed() {
		t.Error("the subscription came back: this did not test the checks while it is down")
	}
}

// Row 6: SESSION_END arrives while this replica cannot reach Redis. The
// revocation is not dropped: this replica refuses the session as soon as
// it can answer at all, closes its websocket, and retries the deletion
// until Redis confirms it, which ends the session on the other replica too.
func TestSessionEndWhileRedisUnreachableIsRetried(t *testing.T) {
	p := newReplicaPair(t)
	c := browser(t)
	conn := openEcho(t, p.a, c)
	ck := sessionCookie(t, c, p.a.outpost)
	if code, body := as(t, ck, p.b.outpost, "/on-b"); !servedAsAlice(code, body) {
		t.Fatalf("the session is not served on the other replica: %d %s", code, body)
	}
	p.relay.Cut()
	req, _ := http.NewRequest("POST", p.a.core+"/api/devcore/users/alice/end-sessions", nil)
	req.Header.Set("Authorization", "Bearer "+p.a.token)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if b := readBody(r); r.StatusCode != 200 || !strings.Contains(b, `"ended":1`) {
		t.Fatalf("end-sessions: %d %s", r.StatusCode, b)
	}
	// The outpost heard it and the store could not carry it out.
	eventually(t, 5*time.Second, func() bool { return strings.Contains(p.aLog.String(), "revocation not confirmed by redis") })
	if code, _ := as(t, ck, p.a.outpost, "/while-cut"); code == http.StatusOK {
		t.Fatal("the ended session was served with redis unreachable")
	}
	p.relay.Restore()
	// From the moment a can read the session again it refuses it: never
	// served, whether or not the retry has run yet.
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, loc := as(t, ck, p.a.outpost, "/back")
		if code == http.StatusOK {
			t.Fatalf("a served the ended session after redis came back: %s", loc)
		}
		if signedOutTo(code, loc) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a never refused the ended session: %d %s", code, loc)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitClosed(t, conn, 6*time.Second)
	// The retry reached Redis: the other replica refuses it too.
	eventually(t, 10*time.Second, func() bool { return signedOutTo(as(t, ck, p.b.outpost, "/on-b")) })
	eventually(t, 5*time.Second, func() bool { return strings.Contains(p.aLog.String(), "revocation confirmed by redis after a retry") })
}

// Row 4: a sign-out ends its own session even when the index keys that
// list the person's sessions are gone (evicted by an evicting
// maxmemory-policy, or deleted): the replayed cookie is refused.
func TestSignOutWithoutIndexKeysEndsOwnSession(t *testing.T) {
	srv := redistest.Start(t)
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]", store: redisStore(t, srv)})
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer admin.Close()
	for _, tc := range []struct {
		name     string
		patterns []string
	}{
		{"sub index gone", []string{"proxytest:sub:*"}},
		{"sid and sub indexes gone", []string{"proxytest:sub:*", "proxytest:sid:*"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := browser(t)
			if resp := signIn(t, c, getPage(t, c, st.outpost+"/"), "alice", "alice-pw"); readBody(resp) == "" || resp.StatusCode != 200 {
				t.Fatalf("login: %d", resp.StatusCode)
			}
			ck := sessionCookie(t, c, st.outpost)
			for _, pat := range tc.patterns {
				keys, err := admin.Keys(ctx, pat).Result()
				if err != nil || len(keys) == 0 {
					t.Fatalf("no index keys %s: %v", pat, err)
				}
				if err := admin.Del(ctx, keys...).Err(); err != nil {
					t.Fatal(err)
				}
			}
			if code, body := as(t, ck, st.outpost, "/before"); !servedAsAlice(code, body) {
				t.Fatalf("not signed in before the sign-out: %d %s", code, body)
			}
			if code, loc := as(t, ck, st.outpost, "/outpost.goauthentik.io/sign_out"); code != http.StatusFound || !strings.Contains(loc, "end-session") {
				t.Fatalf("sign-out: %d %s", code, loc)
			}
			before := st.upstreamCount()
			if code, loc := as(t, ck, st.outpost, "/after"); !signedOutTo(code, loc) || st.upstreamCount() != before {
				t.Errorf("the signed-out cookie still passes: %d %s", code, loc)
			}
		})
	}
}
