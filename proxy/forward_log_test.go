package proxy_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A forward-auth decision's access line and its denial line name the
// request the reverse proxy asked about (nginx asks with GET on its own
// endpoint; the person sent POST /api/v2/silences), and the endpoint that
// asked is a field of its own.
func TestForwardAuthLogsTheOriginalRequest(t *testing.T) {
	s := newAuthzStack(t)
	token := s.issuer.Token("olga", "fwd-client", time.Hour)
	if code, body := s.viaForward(t, "POST", "/api/v2/silences?x=1", "Authorization", "Bearer "+token); code != 403 {
		t.Fatalf("olga POST silences: %d %s", code, body)
	}
	var access, denial map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for (access == nil || denial == nil) && time.Now().Before(deadline) {
		for _, l := range jsonLines(t, s.logs.String()) {
			switch l["msg"] {
			case "request":
				if l["forward_auth"] != nil {
					access = l
				}
			case "access denied by the provider's rules":
				denial = l
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if access == nil || denial == nil {
		t.Fatalf("no access or denial line in\n%s", s.logs.String())
	}
	for k, want := range map[string]any{
		"method": "POST", "path": "/api/v2/silences", "query": "x=1", "host": "fwd.localhost:" + s.port,
		"forward_auth": "/outpost.goauthentik.io/auth/nginx", "status": float64(403), "decision": "denied",
	} {
		if access[k] != want {
			t.Errorf("access line: %s = %v, want %v (%v)", k, access[k], want, access)
		}
	}
	if denial["method"] != "POST" || denial["path"] != "/api/v2/silences" {
		t.Errorf("denial line: %v", denial)
	}
}

// Standalone mode sets X-Authentik-Meta-Jwks to the issuer's jwks_uri,
// found by discovery, in proxy mode and in forward auth.
func TestStandaloneMetaJWKS(t *testing.T) {
	s := newAuthzStack(t)
	want := s.issuer.URL + "/jwks"
	t.Run("forward auth", func(t *testing.T) {
		req, _ := http.NewRequest("GET", s.outpost+"/outpost.goauthentik.io/auth/nginx", nil)
		req.Host = "fwd.localhost:" + s.port
		req.Header.Set("X-Original-URL", "http://fwd.localhost:"+s.port+"/graph")
		req.Header.Set("X-Original-Method", "GET")
		req.Header.Set("Authorization", "Bearer "+s.issuer.Token("olga", "fwd-client", time.Hour))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		readBody(resp)
		if resp.StatusCode != 200 || resp.Header.Get("X-Authentik-Meta-Jwks") != want {
			t.Errorf("%d, X-Authentik-Meta-Jwks %q, want %q", resp.StatusCode, resp.Header.Get("X-Authentik-Meta-Jwks"), want)
		}
	})
	t.Run("proxy mode", func(t *testing.T) {
		var seen string
		s.app.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen = r.Header.Get("X-Authentik-Meta-Jwks")
		})
		code, body := s.viaProxy(t, "GET", "/graph", "Authorization", "Bearer "+s.issuer.Token("olga", "prom-client", time.Hour))
		if code != 200 || seen != want {
			t.Errorf("%d %s: the app saw X-Authentik-Meta-Jwks %q, want %q", code, body, seen, want)
		}
	})
}

// jsonLines is every JSON line of a log.
func jsonLines(t *testing.T, log string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(log, "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := jsonUnmarshal(line, &m); err == nil {
			out = append(out, m)
		}
	}
	return out
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
