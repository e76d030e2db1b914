package outpostapi

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// StaticSource serves a standalone configuration file: it loads it once, then
// reloads it whenever it changes or TriggerRefresh is called (SIGUSR1). A bad
// edit is reported and the last good configuration stays in force.
type StaticSource struct {
	Path string
	Log  *slog.Logger
	// Settle is how long to wait for a burst of file events to end.
	Settle  time.Duration
	trigger chan struct{}

	// Certificate files watched, and how to stop watching them; used only
	// from Run's goroutine.
	watched   []string
	stopWatch context.CancelFunc
}

// NewStaticSource returns a source for the YAML file at path.
func NewStaticSource(path string, log *slog.Logger) *StaticSource {
	if log == nil {
		log = slog.Default()
	}
	return &StaticSource{Path: path, Log: log, Settle: 200 * time.Millisecond, trigger: make(chan struct{}, 1)}
}

// TriggerRefresh asks for a reload; calls while one is pending coalesce.
func (s *StaticSource) TriggerRefresh() {
	select {
	case s.trigger <- struct{}{}:
	default:
	}
}

// Run loads the file (an error here is returned: there is no last good
// configuration to keep), hands the snapshot to h, then reloads on every
// change until ctx is done. A reload that fails is logged and reported to
// h.OnRefresh; the last good configuration stays in force.
func (s *StaticSource) Run(ctx context.Context, h Handlers) error {
	h = h.withDefaults()
	snap, err := LoadStaticFile(s.Path)
	if err != nil {
		return err
	}
	started := func() {
		// The watch is in place only now: read again, so an edit made in
		// between is not missed until the next one.
		if fresh, err := s.load(ctx); err == nil {
			snap = fresh
		}
		h.OnSnapshot(snap)
		h.OnRefresh(nil)
	}
	return WatchFile(ctx, s.Path, WatchOptions{Settle: s.Settle, Trigger: s.trigger, Started: started, Log: s.Log}, func() {
		snap, err := s.load(ctx)
		if err != nil {
			err = fmt.Errorf("%w (keeping the last good configuration)", err)
			s.Log.Error("configuration reload failed", "error", err)
			h.OnRefresh(err)
			return
		}
		h.OnSnapshot(snap)
		h.OnRefresh(nil)
	})
}

// certificateFiles are the files a snapshot's standalone keypairs were read
// from, sorted, each once.
func certificateFiles(snap *Snapshot) []string {
	var files []string
	for _, c := range snap.Certificates {
		for _, f := range []string{c.CertFile, c.KeyFile} {
			if f != "" {
				files = append(files, f)
			}
		}
	}
	slices.Sort(files)
	return slices.Compact(files)
}

// load reads the file and makes sure the certificate files it names are
// watched. When they were not yet, it reads once more after the watches are
// in place, so a rotation in between is not missed.
func (s *StaticSource) load(ctx context.Context) (*Snapshot, error) {
	snap, err := LoadStaticFile(s.Path)
	if err != nil || !s.watchCertificates(ctx, snap) {
		return snap, err
	}
	if again, err := LoadStaticFile(s.Path); err == nil {
		snap = again
	}
	return snap, nil
}

// watchCertificates reloads the configuration whenever a certificate or key
// file of snap changes, as cert-manager or a Kubernetes Secret rotates them
// in place. The watched files follow each snapshot; it reports whether it
// started new watches, and returns once they are in place.
func (s *StaticSource) watchCertificates(ctx context.Context, snap *Snapshot) bool {
	files := certificateFiles(snap)
	if slices.Equal(files, s.watched) {
		return false
	}
	if s.stopWatch != nil {
		s.stopWatch()
	}
	wctx, cancel := context.WithCancel(ctx)
	s.watched, s.stopWatch = files, cancel
	ready := make(chan struct{}, len(files))
	for _, f := range files {
		go func() {
			err := WatchFile(wctx, f, WatchOptions{Settle: s.Settle, Log: s.Log, Started: func() { ready <- struct{}{} }}, s.TriggerRefresh)
			if err != nil {
				s.Log.Warn("cannot watch a certificate file; SIGUSR1 reloads it", "path", f, "error", err)
				ready <- struct{}{}
			}
		}()
	}
	for range files {
		<-ready
	}
	return true
}
