package proxy_test

import (
	"net/http"
	"testing"
	"time"
)

// Through real nginx with the shipped snippet, a machine client's 401
// carries the outpost's challenge once: auth_request copies it already.
func TestNginxUnauthorizedHasOneChallenge(t *testing.T) {
	f := frontedPair(t, "challenge")
	for _, c := range []struct{ name, auth string }{
		{"no credentials", ""},
		{"bad token", "Bearer " + f.issuer.Token("olga", "nginx-client", time.Hour) + "x"},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://"+f.nginxAddr+"/api/data", nil)
			req.Header.Set("Accept", "*/*")
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(resp)
			if got := resp.Header.Values("WWW-Authenticate"); resp.StatusCode != 401 || len(got) != 1 {
				t.Errorf("%d, WWW-Authenticate %q: %s", resp.StatusCode, got, body)
			}
		})
	}
}
