package outpostapi

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// WatchOptions tune WatchFile.
type WatchOptions struct {
	// Settle is how long a burst of events must be quiet before onChange
	// runs: one save is often several events (truncate, write, chmod).
	Settle time.Duration
	// Trigger, when it fires, runs onChange as if the file had changed.
	Trigger <-chan struct{}
	// Started, if set, is called once the watch is in place.
	Started func()
	Log     *slog.Logger
}

// WatchFile calls onChange after each settled burst of changes to path,
// until ctx is done. It watches the parent directory, so editors and
// Kubernetes ConfigMaps, which replace the file by rename, are seen too. It
// returns an error only when the watch cannot start.
func WatchFile(ctx context.Context, path string, o WatchOptions, onChange func()) error {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(abs)); err != nil {
		return fmt.Errorf("watching %s: %w", filepath.Dir(abs), err)
	}
	if o.Started != nil {
		o.Started()
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if watchedFileEvent(ev, abs) {
				timer.Reset(o.Settle)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			o.Log.Warn("watching configuration file", "path", abs, "error", err)
		case <-o.Trigger:
			timer.Reset(0)
		case <-timer.C:
			onChange()
		}
	}
}

// watchedFileEvent is true for events that may change the content at abs;
// ConfigMap updates swap a "..data" symlink in the same directory.
func watchedFileEvent(ev fsnotify.Event, abs string) bool {
	if ev.Name == abs {
		return true
	}
	return filepath.Dir(ev.Name) == filepath.Dir(abs) && strings.HasPrefix(filepath.Base(ev.Name), "..")
}
