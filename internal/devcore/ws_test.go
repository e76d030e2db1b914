package devcore

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestWebsocketHandshakeIsGuarded(t *testing.T) {
	core := startCore(t, mustParse(t, baseYAML))
	for _, tc := range []struct {
		name, pk, token, suffix string
		code                    int
	}{
		{"no token", pkA, "", "/", 403},
		{"bad token", pkA, "wrong", "/", 403},
		{"other outpost's token", pkA, tokenB, "/", 403},
		{"unknown outpost", "33333333-3333-4333-8333-333333333333", tokenA, "/", 403},
		{"no trailing slash", pkA, tokenA, "", 404},
		{"upper-case uuid", strings.ToUpper(pkA), tokenA, "/", 404},
		{"extra path", pkA, tokenA, "/x/", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.token != "" {
				h.Set("Authorization", "Bearer "+tc.token)
			}
			d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
			ws, resp, err := d.Dial("ws://"+core.addr+"/ws/outpost/"+tc.pk+tc.suffix, h)
			if err == nil {
				ws.Close()
				t.Fatal("handshake succeeded")
			}
			if resp == nil || resp.StatusCode != tc.code {
				t.Fatalf("handshake: %v %v, want HTTP %d", resp, err, tc.code)
			}
		})
	}
	// The right token opens it; the scheme is case-insensitive here too.
	h := http.Header{"Authorization": {"bearer " + tokenB}}
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+core.addr+"/ws/outpost/"+pkB+"/?instance_uuid=x", h)
	if err != nil {
		t.Fatal(err)
	}
	ws.Close()
}

func TestHelloIsAcknowledgedAndShownInStatus(t *testing.T) {
	core := startCore(t, mustParse(t, baseYAML))
	const instance = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
	ws := mustDialWS(t, core.addr, pkA, tokenA, instance)
	if err := ws.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, helloFrame, instance)); err != nil {
		t.Fatal(err)
	}
	if got := readFrame(t, ws, 5*time.Second); got != `{"instruction":0,"args":{}}` {
		t.Fatalf("reply to HELLO: %s", got)
	}
	// An ACK from the outpost is not acknowledged.
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"instruction":0,"args":{}}`)); err != nil {
		t.Fatal(err)
	}
	expectNoFrame(t, ws, 300*time.Millisecond)

	st := getJSON(t, core.url("/api/devcore/status"), tokenA, 200)
	outposts := st["outposts"].([]any)
	if len(outposts) != 2 {
		t.Fatalf("status outposts: %v", outposts)
	}
	a := outposts[0].(map[string]any)
	if a["pk"] != pkA || a["name"] != "outpost-a" {
		t.Fatalf("outpost: %v", a)
	}
	instances := a["instances"].([]any)
	if len(instances) != 1 {
		t.Fatalf("instances: %v", instances)
	}
	in := instances[0].(map[string]any)
	if in["uuid"] != instance || in["connected"] != true {
		t.Errorf("instance: %v", in)
	}
	if seen, err := time.Parse(time.RFC3339, in["last_seen"].(string)); err != nil || time.Since(seen) > time.Minute {
		t.Errorf("last_seen %v: %v", in["last_seen"], err)
	}
	hello := in["hello"].(map[string]any)
	for k, v := range map[string]any{
		"version": "2026.2.2", "buildHash": "abc123", "uuid": instance, "golangVersion": "go1.26.8",
		"opensslEnabled": false, "opensslVersion": "", "fipsEnabled": false, "hostname": "host-1",
	} {
		if hello[k] != v {
			t.Errorf("hello[%s] = %#v, want %#v", k, hello[k], v)
		}
	}
	// Unknown keys are kept, numbers as sent.
	code, raw := do(t, "GET", core.url("/api/devcore/status"), tokenA, "")
	if code != 200 || !strings.Contains(string(raw), `"extra":{"n":12345678901234567890}`) {
		t.Errorf("extra hello key not kept verbatim: %s", raw)
	}
	// B has no instance.
	if b := outposts[1].(map[string]any); len(b["instances"].([]any)) != 0 {
		t.Errorf("outpost B instances: %v", b)
	}

	// Gone means not connected, at once.
	ws.Close()
	waitFor(t, "instance shown disconnected", 5*time.Second, func() bool {
		st := getJSON(t, core.url("/api/devcore/status"), tokenA, 200)
		in := st["outposts"].([]any)[0].(map[string]any)["instances"].([]any)[0].(map[string]any)
		return in["connected"] == false && in["connections"] == 0.0
	})
}

func TestInstanceWithoutHelloGoesStale(t *testing.T) {
	core := startCore(t, mustParse(t, baseYAML))
	core.ctl.helloTTL = 200 * time.Millisecond
	ws := mustDialWS(t, core.addr, pkA, tokenA, "stale-instance")
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"instruction":1,"args":{"version":"1"}}`)); err != nil {
		t.Fatal(err)
	}
	readFrame(t, ws, 5*time.Second)
	connected := func() any {
		st := core.ctl.status()
		return st.Outposts[0].Instances[0].Connected
	}
	if connected() != true {
		t.Fatal("not connected right after HELLO")
	}
	// Still open, but silent for longer than the TTL.
	waitFor(t, "instance to go stale", 5*time.Second, func() bool { return connected() == false })
}

func TestInstanceUUIDFallsBackToChannelName(t *testing.T) {
	core := startCore(t, mustParse(t, baseYAML))
	raw, _, err := dialWS(t, core.addr, pkA, tokenA, "")
	if err != nil {
		t.Fatal(err)
	}
	ws := newTestWS(raw)
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"instruction":1,"args":{}}`)); err != nil {
		t.Fatal(err)
	}
	readFrame(t, ws, 5*time.Second)
	ins := core.ctl.status().Outposts[0].Instances
	if len(ins) != 1 || !strings.HasPrefix(ins[0].UUID, "specific.") {
		t.Errorf("instances: %+v", ins)
	}
}

func TestInvalidMessagesCloseWith1003(t *testing.T) {
	core := startCore(t, mustParse(t, baseYAML))
	for _, msg := range []string{
		``, `null`, `[]`, `"hello"`, `42`, `{`, `{}`,
		`{"instruction":1}`, `{"args":{}}`,
		`{"instruction":"1","args":{}}`, `{"instruction":1.5,"args":{}}`, `{"instruction":1e0,"args":{}}`,
		`{"instruction":null,"args":{}}`, `{"instruction":true,"args":{}}`, `{"instruction":99999999999,"args":{}}`,
		`{"instruction":1,"args":null}`, `{"instruction":1,"args":[]}`, `{"instruction":1,"args":"x"}`,
		`{"instruction":1,"args":{}} {"instruction":1,"args":{}}`, `{"Instruction":1,"Args":{}}`,
	} {
		t.Run(msg, func(t *testing.T) {
			ws := mustDialWS(t, core.addr, pkA, tokenA, "bad")
			if err := ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
				t.Fatal(err)
			}
			ce := expectClose(t, ws, websocket.CloseUnsupportedData)
			if !strings.Contains(ce.Text, "invalid message") {
				t.Errorf("close reason %q", ce.Text)
			}
		})
	}
	t.Run("binary", func(t *testing.T) {
		ws := mustDialWS(t, core.addr, pkA, tokenA, "bad")
		if err := ws.WriteMessage(websocket.BinaryMessage, []byte(`{"instruction":1,"args":{}}`)); err != nil {
			t.Fatal(err)
		}
		expectClose(t, ws, websocket.CloseUnsupportedData)
	})
	// The core is still fine, and unknown but well-formed instructions are
	// acknowledged.
	ws := mustDialWS(t, core.addr, pkA, tokenA, "good")
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"instruction":42,"args":{"x":1},"extra":true}`)); err != nil {
		t.Fatal(err)
	}
	if got := readFrame(t, ws, 5*time.Second); got != `{"instruction":0,"args":{}}` {
		t.Errorf("reply: %s", got)
	}
}

func TestTriggerUpdateOnSetConfig(t *testing.T) {
	core := startCore(t, mustParse(t, baseYAML))
	wsA1 := mustDialWS(t, core.addr, pkA, tokenA, "a1")
	wsA2 := mustDialWS(t, core.addr, pkA, tokenA, "a2")
	wsB := mustDialWS(t, core.addr, pkB, tokenB, "b1")
	waitFor(t, "three connections", 5*time.Second, func() bool {
		core.ctl.mu.Lock()
		defer core.ctl.mu.Unlock()
		return len(core.ctl.conns) == 3
	})

	// Only outpost A's provider changes: both A instances hear it, B not.
	next := mustParse(t, strings.Replace(baseYAML, "http://127.0.0.1:9090", "http://127.0.0.1:9091", 1))
	if err := core.SetConfig(next); err != nil {
		t.Fatal(err)
	}
	for _, ws := range []*testWS{wsA1, wsA2} {
		if got := readFrame(t, ws, 5*time.Second); got != `{"instruction":2,"args":{}}` {
			t.Errorf("after SetConfig: %s", got)
		}
	}
	expectNoFrame(t, wsB, 300*time.Millisecond)
	if core.config() != next {
		t.Error("SetConfig did not swap")
	}

	// The same file loaded again changes nothing an outpost can see: the
	// generated certificates are kept, so no one is told to refresh.
	again := mustParse(t, strings.Replace(baseYAML, "http://127.0.0.1:9090", "http://127.0.0.1:9091", 1))
	if err := core.SetConfig(again); err != nil {
		t.Fatal(err)
	}
	for _, ws := range []*testWS{wsA1, wsB} {
		expectNoFrame(t, ws, 200*time.Millisecond)
	}
	if again.Certificates[0].material.fingerprintSHA256 != next.Certificates[0].material.fingerprintSHA256 {
		t.Error("generated certificate changed on an identical reload")
	}

	// A change in B's outpost config reaches B only.
	third := mustParse(t, strings.Replace(strings.Replace(baseYAML, "http://127.0.0.1:9090", "http://127.0.0.1:9091", 1), "log_level: debug", "log_level: info", 1))
	if err := core.SetConfig(third); err != nil {
		t.Fatal(err)
	}
	if got := readFrame(t, wsB, 5*time.Second); got != `{"instruction":2,"args":{}}` {
		t.Errorf("B after its change: %s", got)
	}
	expectNoFrame(t, wsA1, 200*time.Millisecond)

	// A certificate's hosts change: the outpost using it (B) must refetch.
	fourth := mustParse(t, strings.Replace(strings.Replace(strings.Replace(baseYAML, "http://127.0.0.1:9090", "http://127.0.0.1:9091", 1),
		"log_level: debug", "log_level: info", 1), "hosts: [secret.example.com, 10.0.0.1]", "hosts: [secret.example.com]", 1))
	if err := core.SetConfig(fourth); err != nil {
		t.Fatal(err)
	}
	if got := readFrame(t, wsB, 5*time.Second); got != `{"instruction":2,"args":{}}` {
		t.Errorf("B after its certificate changed: %s", got)
	}
	expectNoFrame(t, wsA1, 200*time.Millisecond)

	// The admin endpoint triggers without a change.
	code, b := do(t, "POST", core.url("/api/devcore/trigger-update"), tokenA, `{"outpost":"`+pkB+`"}`)
	if code != 200 || strings.TrimSpace(string(b)) != `{"sent":1}` {
		t.Errorf("trigger-update: %d %s", code, b)
	}
	if got := readFrame(t, wsB, 5*time.Second); got != `{"instruction":2,"args":{}}` {
		t.Errorf("B after trigger-update: %s", got)
	}
}

func TestRemovedOutpostOrNewTokenClosesItsWebsocket(t *testing.T) {
	core := startCore(t, mustParse(t, baseYAML))
	wsA := mustDialWS(t, core.addr, pkA, tokenA, "a")
	wsB := mustDialWS(t, core.addr, pkB, tokenB, "b")
	waitFor(t, "two connections", 5*time.Second, func() bool {
		core.ctl.mu.Lock()
		defer core.ctl.mu.Unlock()
		return len(core.ctl.conns) == 2
	})
	if err := core.SetConfig(mustParse(t, strings.Replace(baseYAML, tokenB, "token-b-rotated", 1))); err != nil {
		t.Fatal(err)
	}
	expectClose(t, wsB, websocket.ClosePolicyViolation)
	expectNoFrame(t, wsA, 200*time.Millisecond)
	if _, resp, err := dialWS(t, core.addr, pkB, tokenB, ""); err == nil || resp == nil || resp.StatusCode != 403 {
		t.Errorf("old token still opens the websocket: %v", err)
	}
}

func TestSessionEndBroadcast(t *testing.T) {
	core := startCore(t, mustParse(t, baseYAML))
	conns := []*testWS{
		mustDialWS(t, core.addr, pkA, tokenA, "a1"),
		mustDialWS(t, core.addr, pkA, tokenA, "a2"),
		mustDialWS(t, core.addr, pkB, tokenB, "b1"),
	}
	waitFor(t, "three connections", 5*time.Second, func() bool {
		core.ctl.mu.Lock()
		defer core.ctl.mu.Unlock()
		return len(core.ctl.conns) == 3
	})
	const sid = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	wantNew := `{"instruction":4,"args":{"type":"event.session.end","session_id":"` + sid + `"}}`
	wantLegacy := `{"instruction":3,"args":{"type":"event.provider.specific","sub_type":"logout","session_id":"` + sid + `"}}`

	code, b := do(t, "POST", core.url("/api/devcore/session-end"), tokenA, `{"session_id":"`+sid+`"}`)
	if code != 200 || strings.TrimSpace(string(b)) != `{"sent":3}` {
		t.Fatalf("session-end: %d %s", code, b)
	}
	for _, ws := range conns {
		if got := readFrame(t, ws, 5*time.Second); got != wantNew {
			t.Errorf("SESSION_END frame:\n got %s\nwant %s", got, wantNew)
		}
	}
	code, b = do(t, "POST", core.url("/api/devcore/session-end"), tokenA, `{"session_id":"`+sid+`","legacy":true}`)
	if code != 200 || strings.TrimSpace(string(b)) != `{"sent":3}` {
		t.Fatalf("legacy session-end: %d %s", code, b)
	}
	for _, ws := range conns {
		if got := readFrame(t, ws, 5*time.Second); got != wantLegacy {
			t.Errorf("legacy logout frame:\n got %s\nwant %s", got, wantLegacy)
		}
	}
	// The method the identity provider half calls.
	core.ctl.broadcastSessionEnd(sid)
	for _, ws := range conns {
		var m map[string]any
		if err := json.Unmarshal([]byte(readFrame(t, ws, 5*time.Second)), &m); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"instruction": 4.0, "args": map[string]any{"type": "event.session.end", "session_id": sid}}
		if !reflect.DeepEqual(m, want) {
			t.Errorf("broadcastSessionEnd: %v", m)
		}
	}
}

func TestCloseSends1012AndAddressIsReusable(t *testing.T) {
	cfg := mustParse(t, baseYAML)
	core := startCore(t, cfg)
	ws := mustDialWS(t, core.addr, pkA, tokenA, "a")
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"instruction":1,"args":{}}`)); err != nil {
		t.Fatal(err)
	}
	readFrame(t, ws, 5*time.Second)

	closed := make(chan error, 1)
	go func() { closed <- core.Close() }()
	ce := expectClose(t, ws, websocket.CloseServiceRestart)
	if ce.Text == "" {
		t.Error("close frame without a reason")
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-core.done; err != nil {
		t.Fatalf("Serve after Close: %v", err)
	}
	core.done <- nil // for the cleanup

	// A new core on the very same address works at once.
	core2 := startCoreAt(t, cfg, core.addr)
	ws2 := mustDialWS(t, core2.addr, pkA, tokenA, "a")
	if err := ws2.WriteMessage(websocket.TextMessage, []byte(`{"instruction":1,"args":{}}`)); err != nil {
		t.Fatal(err)
	}
	if got := readFrame(t, ws2, 5*time.Second); got != `{"instruction":0,"args":{}}` {
		t.Errorf("restarted core: %s", got)
	}
	getJSON(t, core2.url("/api/v3/root/config/"), tokenA, 200)
}

func TestCloseCutsPeersThatIgnoreTheCloseFrame(t *testing.T) {
	core := startCore(t, mustParse(t, baseYAML))
	core.ctl.closeWait = 200 * time.Millisecond
	// A client that never reads never answers the close handshake.
	if _, _, err := dialWS(t, core.addr, pkA, tokenA, "instance_uuid=deaf"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "connection", 5*time.Second, func() bool {
		core.ctl.mu.Lock()
		defer core.ctl.mu.Unlock()
		return len(core.ctl.conns) == 1
	})
	start := time.Now()
	if err := core.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %v", d)
	}
	core.ctl.mu.Lock()
	n := len(core.ctl.conns)
	core.ctl.mu.Unlock()
	if n != 0 {
		t.Errorf("%d connections left after Close", n)
	}
}

func TestServeStopsWithContext(t *testing.T) {
	s, err := New(mustParse(t, baseYAML), Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	core := &testCore{Server: s}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	core.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	ws := mustDialWS(t, core.addr, pkA, tokenA, "a")
	cancel()
	expectClose(t, ws, websocket.CloseServiceRestart)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after the context ended")
	}
}

func FuzzParseWSMessage(f *testing.F) {
	for _, s := range []string{
		`{"instruction":1,"args":{"version":"2026.2.2","uuid":"x"}}`, `{"instruction":0,"args":{}}`,
		`{"instruction":"1","args":{}}`, `{"instruction":1,"args":null}`, `[]`, `null`, ``, `{"instruction":-0,"args":{"a":[1,{"b":null}]}}`,
		`{"instruction":2147483648,"args":{}}`, `{"instruction":1,"args":{}}x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ins, args, err := parseWSMessage(b)
		if err != nil {
			return
		}
		if args == nil {
			t.Fatal("accepted message with nil args")
		}
		// What was accepted survives a round trip unchanged.
		out, err := json.Marshal(map[string]any{"instruction": ins, "args": args})
		if err != nil {
			t.Fatalf("accepted args do not marshal: %v", err)
		}
		ins2, args2, err := parseWSMessage(out)
		if err != nil || ins2 != ins || !reflect.DeepEqual(args, args2) {
			t.Fatalf("round trip of %q: %d %v %v", b, ins2, args2, err)
		}
	})
}
