package outpostapi

import (
	"encoding/json"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDecodeMessage(t *testing.T) {
	cases := []struct {
		in      string
		want    WebsocketMessage
		wantErr string
	}{
		{`{"instruction":0,"args":{}}`, WebsocketMessage{Instruction: 0, Args: map[string]any{}}, ""},
		{`{"instruction":2}`, WebsocketMessage{Instruction: 2, Args: map[string]any{}}, ""},
		{`{"instruction":2,"args":null}`, WebsocketMessage{Instruction: 2, Args: map[string]any{}}, ""},
		{`{"instruction":4,"args":{"type":"event.session.end","session_id":"abc"},"extra":[1]}`,
			WebsocketMessage{Instruction: 4, Args: map[string]any{"type": "event.session.end", "session_id": "abc"}}, ""},
		{`{"instruction":99,"args":{}}`, WebsocketMessage{Instruction: 99, Args: map[string]any{}}, ""},
		{`{"args":{}}`, WebsocketMessage{}, "no instruction"},
		{`{"instruction":null}`, WebsocketMessage{}, "no instruction"},
		{`{"instruction":"2"}`, WebsocketMessage{}, "not a message"},
		{`{"instruction":2.5}`, WebsocketMessage{}, "not a message"},
		{`{"instruction":1,"args":[]}`, WebsocketMessage{}, "not an object"},
		{`{"instruction":1,"args":"x"}`, WebsocketMessage{}, "not an object"},
		{`[1]`, WebsocketMessage{}, "not a message"},
		{`null`, WebsocketMessage{}, "no instruction"},
		{``, WebsocketMessage{}, "not a message"},
		{`{"instruction":1}{}`, WebsocketMessage{}, "not a message"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := DecodeMessage([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("DecodeMessage(%s) err = %v, want %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("DecodeMessage(%s) = %#v, %v; want %#v", tc.in, got, err, tc.want)
			}
		})
	}
}

func FuzzDecodeMessage(f *testing.F) {
	for _, s := range []string{
		`{"instruction":0,"args":{}}`, `{"instruction":4,"args":{"session_id":"x"}}`,
		`{"instruction":3,"args":{"sub_type":"logout","session_id":1}}`, `{"instruction":1,"args":null}`,
		`{"instruction":1e3}`, `[]`, `"x"`, `{"args":{"a":{"b":[1,2,{}]}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b)
		if err != nil {
			return
		}
		if m.Args == nil {
			t.Fatalf("DecodeMessage(%q): nil args", b)
		}
		// What we accept we can send back, as an object, and read again.
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("re-encoding %#v: %v", m, err)
		}
		back, err := DecodeMessage(out)
		if err != nil || back.Instruction != m.Instruction || !reflect.DeepEqual(back.Args, m.Args) {
			t.Fatalf("round trip of %q: %s → %#v, %v", b, out, back, err)
		}
		var wire map[string]json.RawMessage
		if err := json.Unmarshal(out, &wire); err != nil || !strings.HasPrefix(string(wire["args"]), "{") {
			t.Fatalf("args not an object on the wire: %s", out)
		}
	})
}

func TestArgsNeverNullOnTheWire(t *testing.T) {
	for _, m := range []WebsocketMessage{{Instruction: 0}, {Instruction: 1, Args: map[string]any{}}} {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"instruction":` + string(rune('0'+m.Instruction)) + `,"args":{}}`; string(b) != want {
			t.Errorf("marshal = %s, want %s", b, want)
		}
	}
}

func TestWebsocketURL(t *testing.T) {
	const pk, inst = "23470845-7263-4fe3-bd79-ec1d7bf77d77", "11111111-2222-4333-8444-555555555555"
	cases := []struct {
		host    string
		attempt int
		want    string
	}{
		{"https://auth.example.com/", 0, "wss://auth.example.com/ws/outpost/" + pk + "/?instance_uuid=" + inst},
		{"http://core:9000/", 3, "ws://core:9000/ws/outpost/" + pk + "/?attempt=3&instance_uuid=" + inst},
		{"https://example.com/authentik/?region=eu&b=2", 1, "wss://example.com/authentik/ws/outpost/" + pk + "/?attempt=1&b=2&instance_uuid=" + inst + "&region=eu"},
		// The host's own instance_uuid cannot override ours.
		{"https://example.com/?instance_uuid=spoof", 0, "wss://example.com/ws/outpost/" + pk + "/?instance_uuid=" + inst},
	}
	for _, tc := range cases {
		t.Run(tc.host+"_attempt"+strconv.Itoa(tc.attempt), func(t *testing.T) {
			u, err := url.Parse(tc.host)
			if err != nil {
				t.Fatal(err)
			}
			if got := websocketURL(u, pk, inst, tc.attempt); got != tc.want {
				t.Errorf("websocketURL(%s, %d) = %s, want %s", tc.host, tc.attempt, got, tc.want)
			}
		})
	}
}

func TestJitter(t *testing.T) {
	for _, d := range []time.Duration{time.Second, 30 * time.Second, 3} {
		t.Run(d.String(), func(t *testing.T) {
			for range 1000 {
				if j := jitter(d); j < d/2 || j > d {
					t.Fatalf("jitter(%v) = %v", d, j)
				}
			}
		})
	}
}

func TestHAOffset(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 2000 {
		o := haOffset(DefaultTriggerDelayMax)
		if o < 0 || o > 9*time.Second || o%time.Second != 0 {
			t.Fatalf("haOffset = %v, want whole seconds from 0 to 9", o)
		}
		seen[o] = true
	}
	if len(seen) != 10 {
		t.Errorf("offsets seen: %v, want all ten", seen)
	}
}
