package outpostapi

import (
	"strings"
	"testing"
	"time"
)

func TestEnvLimits(t *testing.T) {
	lookup := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	env, err := LoadEnv(lookup(nil), false)
	if err != nil {
		t.Fatal(err)
	}
	if env.Limits != DefaultLimits || DefaultLimits.ReadHeaderTimeout == 0 || DefaultLimits.MaxHeaderBytes == 0 || DefaultLimits.ResponseHeaderTimeout != time.Minute {
		t.Errorf("defaults: %+v", env.Limits)
	}
	env, err = LoadEnv(lookup(map[string]string{
		"AUTHENTIK_WEB__TIMEOUT_HTTP_READ_HEADER": "2s", "AUTHENTIK_WEB__TIMEOUT_HTTP_IDLE": "1m",
		"OUTPOST_LISTEN__MAX_HEADER_BYTES": "16384", "OUTPOST_LISTEN__MAX_WEBSOCKETS_PER_CLIENT": "3",
		"OUTPOST_AUTH__FAILED_CREDENTIALS_PER_MINUTE": "5", "OUTPOST_AUTH__CREDENTIAL_CACHE_TTL": "10s",
		"OUTPOST_AUTH__BACKCHANNEL_LOGOUTS_PER_MINUTE": "120",
		"OUTPOST_LISTEN__MAX_CONNS_PER_CLIENT":         "7", "OUTPOST_LISTEN__BODY_IDLE_TIMEOUT": "3s",
		"OUTPOST_PROXY__RESPONSE_HEADER_TIMEOUT": "90s",
	}), false)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Limits{
		ReadHeaderTimeout: 2 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 16384, MaxWebsocketsPerClient: 3,
		MaxConnsPerClient: 7, BodyIdleTimeout: 3 * time.Second,
		FailedCredentialsPerMinute: 5, CredentialCacheTTL: 10 * time.Second, BackchannelLogoutsPerMinute: 120,
		ResponseHeaderTimeout: 90 * time.Second,
	}); env.Limits != want {
		t.Errorf("limits = %+v, want %+v", env.Limits, want)
	}
	env, _ = LoadEnv(lookup(map[string]string{"OUTPOST_AUTH__ADDITIONAL_HEADERS": " X-Role, Remote-User ,,"}), false)
	if got := strings.Join(env.AdditionalHeaders, "|"); got != "X-Role|Remote-User" {
		t.Errorf("OUTPOST_AUTH__ADDITIONAL_HEADERS read as %q", got)
	}
	for name, v := range map[string]string{
		"AUTHENTIK_WEB__TIMEOUT_HTTP_READ_HEADER": "5", "AUTHENTIK_WEB__TIMEOUT_HTTP_IDLE": "-1s",
		"OUTPOST_LISTEN__MAX_HEADER_BYTES": "100", "OUTPOST_LISTEN__MAX_WEBSOCKETS_PER_CLIENT": "0",
		"OUTPOST_AUTH__FAILED_CREDENTIALS_PER_MINUTE": "0", "OUTPOST_AUTH__CREDENTIAL_CACHE_TTL": "2m",
		"OUTPOST_AUTH__BACKCHANNEL_LOGOUTS_PER_MINUTE": "0",
		"OUTPOST_LISTEN__MAX_CONNS_PER_CLIENT":         "0", "OUTPOST_LISTEN__BODY_IDLE_TIMEOUT": "0s",
		"OUTPOST_PROXY__RESPONSE_HEADER_TIMEOUT": "60",
	} {
		_, err := LoadEnv(lookup(map[string]string{name: v}), false)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: %v", name, v, err)
		}
	}
}
