package soak

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/webtest"
)

// outcomes is what the load saw, with the time of every failure so that
// it can be laid against the faults' windows.
type outcomes struct {
	ok, anonymous atomic.Int64
	mu            sync.Mutex
	failures      []failure // 5xx and transport errors
	lost          []failure // a signed-in person sent to sign in again
	unexpected    []failure // anything else that should not happen
}

type failure struct {
	at   time.Time
	what string
}

func (o *outcomes) add(list *[]failure, what string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	*list = append(*list, failure{time.Now(), what})
}

// signIn signs user in through the load balancer and returns the Cookie
// header a signed-in browser sends afterwards.
func (w *world) signIn(t *testing.T, user string) string {
	t.Helper()
	c := webtest.Browser(t)
	resp := webtest.Get(t, c, "http://"+w.lbAddr+"/")
	resp = webtest.SignIn(t, c, resp, user, password)
	if body := webtest.ReadBody(resp); resp.StatusCode != 200 || body != "ok "+user {
		t.Fatalf("signing %s in: %d %q", user, resp.StatusCode, body)
	}
	u := resp.Request.URL
	var parts []string
	for _, ck := range c.Jar.Cookies(u) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return strings.Join(parts, "; ")
}

// load runs until ctx ends: each signed-in person's requests, and
// anonymous ones (protected paths expecting the sign-in redirect, public
// ones expecting the app), rate requests/s in all, spread over workers.
func (w *world) load(ctx context.Context, cookies map[string]string, rate int, o *outcomes) *sync.WaitGroup {
	client := &http.Client{
		Timeout:       35 * time.Second,
		Transport:     &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	workers := 2*len(cookies) + 4
	interval := time.Duration(int64(time.Second) * int64(workers) / int64(max(rate, 1)))
	var wg sync.WaitGroup
	run := func(one func(n int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				one(n)
			}
		}()
	}
	for user, cookie := range cookies {
		lostOnce := &atomic.Bool{}
		for range 2 {
			run(func(n int) { w.signedInRequest(ctx, client, user, cookie, n, lostOnce, o) })
		}
	}
	for range 4 {
		run(func(n int) { w.anonymousRequest(ctx, client, n, o) })
	}
	return &wg
}

func (w *world) get(ctx context.Context, c *http.Client, path, client, cookie, accept string) (int, string, string, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+w.lbAddr+path, nil)
	req.Header.Set("X-Soak-Client", client)
	req.Header.Set("Accept", accept)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b), resp.Header.Get("Location"), nil
}

func (w *world) signedInRequest(ctx context.Context, c *http.Client, user, cookie string, n int, lostOnce *atomic.Bool, o *outcomes) {
	path := fmt.Sprintf("/page/%d", n%50)
	accept := "text/html"
	if n%3 == 0 {
		accept = "application/json"
	}
	code, body, loc, err := w.get(ctx, c, path, user, cookie, accept)
	switch {
	case ctx.Err() != nil:
	case err != nil:
		o.add(&o.failures, fmt.Sprintf("%s %s: %v", user, path, err))
	case code == 200 && body == "ok "+user:
		o.ok.Add(1)
	case code == 302 || code == 401:
		// Sent to sign in again: the session was lost. Counted once per
		// person (every later request says the same).
		if lostOnce.CompareAndSwap(false, true) {
			o.add(&o.lost, fmt.Sprintf("%s %s: %d to %s", user, path, code, loc))
		}
	case code >= 500:
		o.add(&o.failures, fmt.Sprintf("%s %s: %d", user, path, code))
	default:
		o.add(&o.unexpected, fmt.Sprintf("%s %s: %d %.80q", user, path, code, body))
	}
}

func (w *world) anonymousRequest(ctx context.Context, c *http.Client, n int, o *outcomes) {
	path, want := fmt.Sprintf("/page/%d", n%50), 302
	if n%4 == 0 {
		path, want = fmt.Sprintf("/public/%d", n%50), 200
	}
	code, body, _, err := w.get(ctx, c, path, "anonymous", "", "text/html")
	switch {
	case ctx.Err() != nil:
	case err != nil:
		o.add(&o.failures, fmt.Sprintf("anonymous %s: %v", path, err))
	case code == want && (want != 200 || body == "ok "):
		o.anonymous.Add(1)
	case code >= 500:
		o.add(&o.failures, fmt.Sprintf("anonymous %s: %d", path, code))
	default:
		o.add(&o.unexpected, fmt.Sprintf("anonymous %s: %d %.80q", path, code, body))
	}
}
