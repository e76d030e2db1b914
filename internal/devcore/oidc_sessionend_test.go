package devcore

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// End to end: an outpost connected on the websocket receives SESSION_END
// with the sid of the session that end-session and the admin endpoint end
// (spec §2.3, §13.2). Only public surfaces are used: the websocket and the
// status endpoint.
func TestSessionEndReachesOutposts(t *testing.T) {
	c := newIDPCore(t, nil)
	pk := c.srv.config().Outposts[0].PK
	h := http.Header{"Authorization": {"Bearer " + outpostToken}}
	ws, _, err := (&websocket.Dialer{HandshakeTimeout: 5 * time.Second}).Dial(
		"ws"+strings.TrimPrefix(c.ts.URL, "http")+"/ws/outpost/"+pk+"/?instance_uuid=idp-test", h)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	frames := make(chan string, 16)
	go func() {
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				close(frames)
				return
			}
			frames <- string(b)
		}
	}()
	// An outpost says HELLO first; the core's ACK shows the connection is
	// registered (it is registered before its messages are read).
	hello := `{"instruction":1,"args":{"version":"2026.2.2","buildHash":"","uuid":"idp-test","golangVersion":"go1.26","opensslEnabled":false,"opensslVersion":"","fipsEnabled":false,"hostname":"test"}}`
	if err := ws.WriteMessage(websocket.TextMessage, []byte(hello)); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-frames:
		if !strings.Contains(f, `"instruction":0`) {
			t.Fatalf("reply to HELLO: %s", f)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no ACK to HELLO")
	}
	if !c.outpostConnected() {
		t.Error("/api/devcore/status does not show the outpost connected")
	}
	expectSessionEnd := func(sid string) {
		t.Helper()
		timeout := time.After(5 * time.Second)
		for {
			select {
			case f, ok := <-frames:
				if !ok {
					t.Fatal("websocket closed")
				}
				var m struct {
					Instruction int            `json:"instruction"`
					Args        map[string]any `json:"args"`
				}
				if json.Unmarshal([]byte(f), &m) != nil || m.Instruction != 4 {
					continue // not SESSION_END (e.g. an ACK)
				}
				if m.Args["type"] != "event.session.end" || m.Args["session_id"] != sid {
					t.Fatalf("SESSION_END frame %s, want session_id %s", f, sid)
				}
				return
			case <-timeout:
				t.Fatalf("no SESSION_END for %s", sid)
			}
		}
	}

	b := c.browser()
	c.login(b, appRequest(), "alice", "alice-pw")
	sid := sha256Hex(c.sessionKey(b))
	resp, err := b.Get(c.ts.URL + "/application/o/app/end-session/")
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	expectSessionEnd(sid)

	b = c.browser()
	c.login(b, appRequest(), "bob", "bob-pw")
	sid = sha256Hex(c.sessionKey(b))
	st, m, _ := c.post("/api/devcore/users/bob/end-sessions", nil, func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+outpostToken)
	})
	if st != 200 || m["ended"] != float64(1) {
		t.Fatalf("admin end: %d %v", st, m)
	}
	expectSessionEnd(sid)
}

// outpostConnected: the status endpoint shows an open websocket.
func (c *idpCore) outpostConnected() bool {
	req, _ := http.NewRequest(http.MethodGet, c.ts.URL+"/api/devcore/status", nil)
	req.Header.Set("Authorization", "Bearer "+outpostToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	var v struct {
		Outposts []struct {
			Instances []struct {
				Connections int `json:"connections"`
			} `json:"instances"`
		} `json:"outposts"`
	}
	_ = json.Unmarshal([]byte(readBody(c.t, resp)), &v)
	for _, o := range v.Outposts {
		for _, in := range o.Instances {
			if in.Connections > 0 {
				return true
			}
		}
	}
	return false
}
