package devcore

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWatchFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "core.yaml")
	if err := os.WriteFile(path, []byte(baseYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	core := startCore(t, cfg)
	started := make(chan struct{})
	reloads := make(chan error, 16)
	core.watchStarted = func() { close(started) }
	core.reloaded = func(err error) { reloads <- err }
	ctx, cancel := context.WithCancel(context.Background())
	watchDone := make(chan error, 1)
	go func() { watchDone <- core.WatchFile(ctx, path) }()
	t.Cleanup(func() {
		cancel()
		if err := <-watchDone; err != nil {
			t.Errorf("WatchFile: %v", err)
		}
	})
	select {
	case <-started:
	case err := <-watchDone:
		t.Fatalf("WatchFile ended: %v", err)
	}
	ws := mustDialWS(t, core.addr, pkA, tokenA, "a")
	waitFor(t, "connection", 5*time.Second, func() bool {
		core.ctl.mu.Lock()
		defer core.ctl.mu.Unlock()
		return len(core.ctl.conns) == 1
	})

	// nextReload waits for a reload attempt that succeeded (wantErr false)
	// or failed; attempts of the other kind left from a burst are skipped.
	nextReload := func(wantErr bool) error {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case err := <-reloads:
				if (err != nil) == wantErr {
					return err
				}
			case <-deadline:
				t.Fatalf("no reload (want error: %v)", wantErr)
			}
		}
	}

	// 1. The file is rewritten in place.
	changed := strings.Replace(baseYAML, "http://127.0.0.1:9090", "http://127.0.0.1:9191", 1)
	if err := os.WriteFile(path, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	nextReload(false)
	if got := readFrame(t, ws, 5*time.Second); got != `{"instruction":2,"args":{}}` {
		t.Fatalf("after rewrite: %s", got)
	}
	if h := core.config().Providers[0].InternalHost; h != "http://127.0.0.1:9191" {
		t.Fatalf("config in force has internal_host %s", h)
	}
	good := core.config()

	// 2. A broken edit keeps the configuration in force, and the error names
	// the file, the line and the field.
	bad := strings.Replace(changed, "https://grafana.example.com", "grafana.example.com", 1)
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	err = nextReload(true)
	for _, want := range []string{path, "line 24:", `providers[1] ("grafana"): external_host:`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("reload error %q lacks %q", err, want)
		}
	}
	if lineOf(t, bad, "external_host: grafana.example.com") != 24 {
		t.Fatal("test YAML moved; fix the expected line")
	}
	if core.config() != good {
		t.Error("a broken file replaced the configuration")
	}
	expectNoFrame(t, ws, 300*time.Millisecond)
	getJSON(t, core.url("/api/v3/outposts/proxy/"), tokenA, 200)

	// 3. An editor's save: write elsewhere, rename over the file.
	tmp := filepath.Join(dir, "core.yaml.tmp")
	if err := os.WriteFile(tmp, []byte(strings.Replace(changed, "http://127.0.0.1:9191", "http://127.0.0.1:9292", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	nextReload(false)
	if got := readFrame(t, ws, 5*time.Second); got != `{"instruction":2,"args":{}}` {
		t.Fatalf("after rename: %s", got)
	}
	if h := core.config().Providers[0].InternalHost; h != "http://127.0.0.1:9292" {
		t.Fatalf("config in force has internal_host %s", h)
	}
}

func TestWatchFileMissingDirectory(t *testing.T) {
	s, err := New(mustParse(t, baseYAML), Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WatchFile(context.Background(), filepath.Join(t.TempDir(), "nope", "core.yaml")); err == nil {
		t.Error("watching a missing directory succeeded")
	}
}
