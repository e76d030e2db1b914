package proxy

import (
	"testing"
	"time"

	"github.com/outpost-dev/outpost/session"
)

func TestRefreshDue(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	mk := func(lifetime, left time.Duration, refresh string) *session.Session {
		exp := now.Add(left)
		return &session.Session{RefreshToken: refresh, TokenExpiry: exp,
			Claims: map[string]any{"iat": float64(exp.Add(-lifetime).Unix())}}
	}
	cases := []struct {
		name string
		s    *session.Session
		want bool
	}{
		{"long token, far from expiry", mk(time.Hour, 30*time.Minute, "r"), false},
		{"long token, last minute", mk(time.Hour, 50*time.Second, "r"), true},
		{"30 s token just issued", mk(30*time.Second, 29*time.Second, "r"), false},
		{"30 s token, last quarter", mk(30*time.Second, 5*time.Second, "r"), true},
		{"no refresh token", mk(time.Hour, time.Second, ""), false},
		{"already expired", mk(time.Hour, -time.Second, "r"), true},
		{"no iat claim", &session.Session{RefreshToken: "r", TokenExpiry: now.Add(30 * time.Second)}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := refreshDue(tc.s, now); got != tc.want {
				t.Errorf("%s: refreshDue = %v, want %v", tc.name, got, tc.want)
			}
		})
	}
}
