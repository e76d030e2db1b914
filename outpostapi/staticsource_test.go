package outpostapi

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStaticSourceReloads(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "providers.yaml")
	writeFile(t, filepath.Join(dir, "am.secret"), "x")
	writeFile(t, path, goodStatic)

	src, snaps, errs := runStaticSource(t, path)

	first := recv(t, snaps)
	if first.Providers[0].InternalURL.Host != "127.0.0.1:9090" || first.Source != path {
		t.Fatalf("first snapshot: %+v", first)
	}

	// An in-place write is picked up.
	writeFile(t, path, strings.Replace(goodStatic, "127.0.0.1:9090", "127.0.0.1:9091", 1))
	if got := recv(t, snaps).Providers[0].InternalURL.Host; got != "127.0.0.1:9091" {
		t.Fatalf("after write: internal host %q", got)
	}

	// A bad edit is reported and produces no snapshot.
	writeFile(t, path, strings.Replace(goodStatic, "mode: forward_single", "mode: nope", 1))
	if err := recvErr(t, errs); !strings.Contains(err.Error(), "mode") || !strings.Contains(err.Error(), "keeping the last good") {
		t.Fatalf("bad edit error: %v", err)
	}
	select {
	case s := <-snaps:
		t.Fatalf("bad edit produced a snapshot: %+v", s)
	case <-time.After(100 * time.Millisecond):
	}

	// Replacing the file by rename (editors, ConfigMaps) is picked up.
	tmp := filepath.Join(dir, "providers.yaml.new")
	writeFile(t, tmp, strings.Replace(goodStatic, "127.0.0.1:9090", "127.0.0.1:9092", 1))
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, snaps).Providers[0].InternalURL.Host; got != "127.0.0.1:9092" {
		t.Fatalf("after rename: internal host %q", got)
	}

	// TriggerRefresh re-reads even when the file did not change, so a
	// rotated secret file is picked up on SIGUSR1.
	writeFile(t, filepath.Join(dir, "am.secret"), "rotated")
	src.TriggerRefresh()
	if got := recv(t, snaps).Providers[1].ClientSecret; got != "rotated" {
		t.Fatalf("after trigger: secret %q", got)
	}
}

func TestStaticSourceBadFileAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.yaml")
	writeFile(t, path, "providers: []\n")
	err := NewStaticSource(path, nil).Run(context.Background(), Handlers{OnSnapshot: func(*Snapshot) { t.Error("snapshot from a bad file") }})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Run with a bad file: %v", err)
	}
	err = NewStaticSource(filepath.Join(t.TempDir(), "missing.yaml"), nil).Run(context.Background(), Handlers{})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Run with a missing file: %v", err)
	}
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting")
	}
	var zero T
	return zero
}

func recvErr(t *testing.T, ch <-chan error) error {
	t.Helper()
	return recv(t, ch)
}

// Authorization rules load with the provider; a provider whose rules
// cannot be evaluated refuses the whole file, named (field and line).
// runStaticSource runs a static source on path, with a short settle time,
// until the test ends, and returns it and what it delivers.
func runStaticSource(t *testing.T, path string) (src *StaticSource, snaps chan *Snapshot, errs chan error) {
	t.Helper()
	snaps = make(chan *Snapshot, 10)
	errs = make(chan error, 10)
	src = NewStaticSource(path, nil)
	src.Settle = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- src.Run(ctx, Handlers{
			OnSnapshot: func(s *Snapshot) { snaps <- s },
			OnRefresh: func(err error) {
				if err != nil {
					errs <- err
				}
			},
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return src, snaps, errs
}
