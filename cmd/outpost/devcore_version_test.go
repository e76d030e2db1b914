package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// coreAPI decodes the answer to GET url, authenticated with token, into
// v; anything but 200 with JSON fails the test.
func coreAPI(t *testing.T, url, token string, v any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
}

// startOutpostOn starts the outpost binary following the core at coreAddr
// as the outpost of devcoreYAML, waits for its first configuration and
// returns it with its HTTP address.
func startOutpostOn(t *testing.T, coreAddr string) (*process, string) {
	t.Helper()
	httpAddr, metricsAddr := freeAddr(t), freeAddr(t)
	out := start(t, []string{
		"AUTHENTIK_HOST=http://" + coreAddr + "/", "AUTHENTIK_TOKEN=file-outpost-token",
		"AUTHENTIK_LISTEN__HTTP=" + httpAddr, "AUTHENTIK_LISTEN__METRICS=" + metricsAddr,
	})
	out.waitFor(t, "configuration in force", 30*time.Second)
	return out, httpAddr
}

// outpostsList is the part of GET /api/v3/outposts/instances/ this test
// reads: the providers' flows, which may be null.
type outpostsList struct {
	Results []struct {
		ProvidersObj []struct {
			Name              string  `json:"name"`
			AuthorizationFlow *string `json:"authorization_flow"`
			InvalidationFlow  *string `json:"invalidation_flow"`
		} `json:"providers_obj"`
	} `json:"results"`
}

// --core-version makes the devcore speak as a 2026.8 core whatever its file
// says, after a reload too, and the outpost serves against it.
func TestDevcoreCoreVersionFlag(t *testing.T) {
	t.Parallel()
	cfg := filepath.Join(t.TempDir(), "core.yaml")
	file := "core_version: \"2026.2\"\n" + devcoreYAML
	if err := os.WriteFile(cfg, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	coreAddr := freeAddr(t)
	core := start(t, nil, "devcore", "--config", cfg, "--listen", coreAddr, "--core-version", "2026.8")
	core.waitFor(t, "devcore listening", 30*time.Second)

	var root struct {
		Capabilities []string `json:"capabilities"`
	}
	coreAPI(t, "http://"+coreAddr+"/api/v3/root/config/", "file-outpost-token", &root)
	if !slices.Contains(root.Capabilities, "can_request") || !slices.Contains(root.Capabilities, "can_agent_self_service") {
		t.Errorf("capabilities %q lack 2026.8's", root.Capabilities)
	}
	nullFlows := func(want int) {
		t.Helper()
		var l outpostsList
		coreAPI(t, "http://"+coreAddr+"/api/v3/outposts/instances/", "file-outpost-token", &l)
		if len(l.Results) != 1 || len(l.Results[0].ProvidersObj) != want {
			t.Fatalf("outposts list: %+v, want one outpost with %d providers", l, want)
		}
		for _, p := range l.Results[0].ProvidersObj {
			if p.AuthorizationFlow != nil || p.InvalidationFlow != nil {
				t.Errorf("provider %s: a flow is not null", p.Name)
			}
		}
	}
	nullFlows(2)

	out, httpAddr := startOutpostOn(t, coreAddr)
	if code, loc := get(t, "http://"+httpAddr+"/", "a.test"); code != 302 || !strings.HasPrefix(loc, "http://a.test/outpost.goauthentik.io/start") {
		t.Errorf("a.test: %d %q, want the sign-in redirect", code, loc)
	}

	// The edited file still says 2026.2; the flag still wins.
	if err := os.WriteFile(cfg, []byte(strings.Replace(file, "providers: [a, c]", "providers: [a, b, c]", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	core.waitFor(t, "devcore configuration reloaded", 15*time.Second)
	nullFlows(3)

	for _, p := range []*process{out, core} {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p.wait(t, 30*time.Second); code != 0 {
			t.Errorf("exit code %d", code)
		}
	}
}
