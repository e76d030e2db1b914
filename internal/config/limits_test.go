package config

import (
	"strings"
	"testing"
	"time"
)

// limits are the settings that bound what a client may take, wherever
// they end up (listeners or data plane).
type limits struct {
	ReadHeaderTimeout, IdleTimeout                            time.Duration
	MaxHeaderBytes, MaxWebsocketsPerClient, MaxConnsPerClient int
	BodyIdleTimeout                                           time.Duration
	CredentialFailuresPerMinute                               int
	CredentialCacheTTL                                        time.Duration
	BackchannelLogoutsPerMinute                               int
	ResponseHeaderTimeout                                     time.Duration
}

func limitsOf(e Env) limits {
	return limits{
		ReadHeaderTimeout: e.Listen.ReadHeaderTimeout, IdleTimeout: e.Listen.IdleTimeout,
		MaxHeaderBytes: e.Listen.MaxHeaderBytes, MaxWebsocketsPerClient: e.Proxy.MaxWebsocketsPerClient,
		MaxConnsPerClient: e.Listen.MaxConnsPerClient, BodyIdleTimeout: e.Listen.BodyIdleTimeout,
		CredentialFailuresPerMinute: e.Proxy.CredentialFailuresPerMinute, CredentialCacheTTL: e.Proxy.CredentialCacheTTL,
		BackchannelLogoutsPerMinute: e.Proxy.BackchannelLogoutsPerMinute, ResponseHeaderTimeout: e.Proxy.ResponseHeaderTimeout,
	}
}

func TestEnvLimits(t *testing.T) {
	lookup := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	env, err := Load(lookup(nil), false)
	if err != nil {
		t.Fatal(err)
	}
	// The defaults docs/configuration.md lists.
	if want := (limits{
		ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 65536, MaxWebsocketsPerClient: 64,
		MaxConnsPerClient: 256, BodyIdleTimeout: 60 * time.Second,
		CredentialFailuresPerMinute: 30, CredentialCacheTTL: time.Minute, BackchannelLogoutsPerMinute: 30,
		ResponseHeaderTimeout: time.Minute,
	}); limitsOf(env) != want {
		t.Errorf("defaults = %+v, want %+v", limitsOf(env), want)
	}
	env, err = Load(lookup(map[string]string{
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
	if want := (limits{
		ReadHeaderTimeout: 2 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 16384, MaxWebsocketsPerClient: 3,
		MaxConnsPerClient: 7, BodyIdleTimeout: 3 * time.Second,
		CredentialFailuresPerMinute: 5, CredentialCacheTTL: 10 * time.Second, BackchannelLogoutsPerMinute: 120,
		ResponseHeaderTimeout: 90 * time.Second,
	}); limitsOf(env) != want {
		t.Errorf("limits = %+v, want %+v", limitsOf(env), want)
	}
	env, _ = Load(lookup(map[string]string{"OUTPOST_AUTH__ADDITIONAL_HEADERS": " X-Role, Remote-User ,,"}), false)
	if got := strings.Join(env.Proxy.AdditionalHeaders, "|"); got != "X-Role|Remote-User" {
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
		t.Run(name, func(t *testing.T) {
			_, err := Load(lookup(map[string]string{name: v}), false)
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s=%q: %v", name, v, err)
			}
		})
	}
}
