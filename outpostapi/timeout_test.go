package outpostapi

import (
	"cmp"
	"strings"
	"testing"
	"time"
)

// response_header_timeout takes a duration or a number of seconds; a bad
// value is refused with its line and what is wanted.
func TestStaticResponseHeaderTimeout(t *testing.T) {
	doc := func(v string) string {
		y := `outpost: {name: o}
providers:
  - name: app
    external_host: https://app.example.com
    internal_host: http://127.0.0.1:3000
    issuer: https://id.example.com/
    client_id: app
    client_secret: s
    cookie_secret: 0123456789abcdef
`
		if v != "" {
			y += "    response_header_timeout: " + v + "\n"
		}
		return y
	}
	for _, tc := range []struct {
		value string
		want  time.Duration
		err   string
	}{
		{"", 0, ""},
		{"90s", 90 * time.Second, ""},
		{"2m", 2 * time.Minute, ""},
		{"60", time.Minute, ""},
		{"1.5", 1500 * time.Millisecond, ""},
		{"0", 0, "line 10: response_header_timeout: want a positive duration"},
		{"-5s", 0, "line 10: response_header_timeout: want a positive duration"},
		{"soon", 0, `got "soon"`},
		{"[1]", 0, "line 10: response_header_timeout: want a positive duration"},
	} {
		t.Run(cmp.Or(tc.value, "unset"), func(t *testing.T) {
			snap, err := ParseStatic([]byte(doc(tc.value)), t.TempDir())
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := snap.Providers[0].ResponseHeaderTimeout; got != tc.want {
				t.Errorf("ResponseHeaderTimeout = %s, want %s", got, tc.want)
			}
		})
	}
}
