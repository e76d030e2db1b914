package outpostapi

import (
	"strings"
	"testing"
	"time"
)

// session_lifetime (issue 22 item 10) is a duration; unset is 0, which the
// data plane reads as its default; a negative or malformed one is refused
// with the line and the field.
func TestStaticSessionLifetime(t *testing.T) {
	const provider = `providers:
  - name: app
    external_host: https://app.example.com
    internal_host: http://127.0.0.1:9090
    issuer: https://id.example.com/
    client_id: app
    client_secret: s3cret
    cookie_secret: 0123456789abcdef0123456789abcdef
`
	for _, tc := range []struct {
		name, line string
		want       time.Duration
		err        []string // parts of the error; nil: it parses
	}{
		{name: "unset", want: 0},
		{name: "hours", line: "    session_lifetime: 720h\n", want: 720 * time.Hour},
		{name: "seconds", line: "    session_lifetime: 90s\n", want: 90 * time.Second},
		{name: "negative", line: "    session_lifetime: -1h\n", err: []string{"line 9", "session_lifetime", "negative"}},
		{name: "a bare number", line: "    session_lifetime: 3600\n", err: []string{"line 9"}},
		{name: "days are not a Go duration", line: "    session_lifetime: 30d\n", err: []string{"line 9", "30d"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap, err := ParseStatic([]byte(provider+tc.line), t.TempDir())
			if tc.err != nil {
				if err == nil {
					t.Fatalf("parsed: %+v", snap.Providers[0].SessionLifetime)
				}
				for _, part := range tc.err {
					if !strings.Contains(err.Error(), part) {
						t.Errorf("error %q does not say %q", err, part)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := snap.Providers[0].SessionLifetime; got != tc.want {
				t.Errorf("session lifetime %s, want %s", got, tc.want)
			}
		})
	}
}
