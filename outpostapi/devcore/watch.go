package devcore

import (
	"context"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// WatchFile reloads the configuration from path whenever the file changes,
// until ctx is done. It watches the parent directory, so editors and
// Kubernetes ConfigMaps that replace the file by rename are seen too, and
// waits for a burst of events to settle. A file that fails to load is
// logged (the error names the line and field) and the configuration in force
// stays. The error return is for a watch that cannot start.
func (s *Server) WatchFile(ctx context.Context, path string) error {
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
		return err
	}
	if s.watchStarted != nil {
		s.watchStarted()
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
			if configFileEvent(ev, abs) {
				timer.Reset(s.watchSettle)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			s.log.Warn("watching devcore configuration", "path", abs, "error", err)
		case <-timer.C:
			err := s.reloadFile(path)
			if s.reloaded != nil {
				s.reloaded(err)
			}
		}
	}
}

func (s *Server) reloadFile(path string) error {
	cfg, err := LoadConfig(path)
	if err == nil {
		err = s.SetConfig(cfg)
	}
	if err != nil {
		s.log.Error("devcore configuration not reloaded; keeping the one in force", "error", err)
		return err
	}
	s.log.Info("devcore configuration reloaded", "path", path, "outposts", len(cfg.Outposts), "providers", len(cfg.Providers))
	return nil
}

// configFileEvent is true for events that may change the content at abs;
// ConfigMap updates swap a "..data" symlink in the same directory.
func configFileEvent(ev fsnotify.Event, abs string) bool {
	if ev.Name == abs {
		return true
	}
	return filepath.Dir(ev.Name) == filepath.Dir(abs) && strings.HasPrefix(filepath.Base(ev.Name), "..")
}
