package config

import (
	"strings"
	"testing"
)

func TestLogFormatEnv(t *testing.T) {
	cases := []struct {
		value   string
		set     bool
		want    string
		wantErr string
	}{
		{"", false, "", ""},
		{"authentik", true, "authentik", ""},
		{"AUTHENTIK", true, "authentik", ""},
		{"json", true, "json", ""},
		{"text", true, "text", ""},
		{"logfmt", true, "", `AUTHENTIK_LOG__FORMAT: unknown format "logfmt" (want json, text or authentik)`},
	}
	for _, tc := range cases {
		t.Run(tc.value, func(t *testing.T) {
			env, err := Load(func(k string) (string, bool) {
				if k == "AUTHENTIK_LOG__FORMAT" && tc.set {
					return tc.value, true
				}
				return "", false
			}, false)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || env.Log.Format != tc.want {
				t.Errorf("Log.Format %q, err %v; want %q", env.Log.Format, err, tc.want)
			}
		})
	}
}
