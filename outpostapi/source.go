package outpostapi

import "context"

// Source is where the configuration comes from: a core (CoreSource) or a
// standalone YAML file (StaticSource). The outpost runs either the same way.
type Source interface {
	// Run delivers configurations and events to h until ctx is done. It
	// returns early only for what retrying cannot fix (no outpost for the
	// token, a file that does not load at start).
	Run(ctx context.Context, h Handlers) error
	// TriggerRefresh asks for a new configuration now (SIGUSR1). It never
	// blocks; requests made while one is pending coalesce.
	TriggerRefresh()
}

var (
	_ Source = (*CoreSource)(nil)
	_ Source = (*StaticSource)(nil)
)

// Handlers receive what a Source learns. Any may be nil. They are called
// from the source's goroutines and should return quickly.
type Handlers struct {
	// OnSnapshot gets every successfully built configuration.
	OnSnapshot func(*Snapshot)
	// OnSessionEnd gets a core's SESSION_END and legacy logout messages,
	// in order.
	OnSessionEnd func(SessionEnd)
	// OnConnection gets the state changes of the websocket to a core.
	OnConnection func(connected bool)
	// OnRefresh gets the outcome of every refresh attempt (nil on success,
	// after OnSnapshot), including a core's startup attempts to list
	// outposts. The source logs failures itself.
	OnRefresh func(err error)
}

func (h Handlers) withDefaults() Handlers {
	if h.OnSnapshot == nil {
		h.OnSnapshot = func(*Snapshot) {}
	}
	if h.OnSessionEnd == nil {
		h.OnSessionEnd = func(SessionEnd) {}
	}
	if h.OnConnection == nil {
		h.OnConnection = func(bool) {}
	}
	if h.OnRefresh == nil {
		h.OnRefresh = func(error) {}
	}
	return h
}
