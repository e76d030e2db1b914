package devcore

import (
	"context"

	"github.com/outpost-dev/outpost/outpostapi"
)

// WatchFile reloads the configuration from path whenever the file changes,
// until ctx is done. It watches the parent directory, so editors and
// Kubernetes ConfigMaps that replace the file by rename are seen too, and
// waits for a burst of events to settle. A file that fails to load is
// logged (the error names the line and field) and the configuration in force
// stays. The error return is for a watch that cannot start.
func (s *Server) WatchFile(ctx context.Context, path string) error {
	return outpostapi.WatchFile(ctx, path, outpostapi.WatchOptions{Settle: s.watchSettle, Started: s.watchStarted, Log: s.log}, func() {
		err := s.reloadFile(path)
		if s.reloaded != nil {
			s.reloaded(err)
		}
	})
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
