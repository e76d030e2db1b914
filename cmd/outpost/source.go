package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/outpost-dev/outpost/metrics"
	"github.com/outpost-dev/outpost/outpostapi"
)

// configSource is where this outpost's configuration comes from: the YAML
// file when one is named, else the core. It is the one place the two modes
// differ; the outpost runs either source the same way. events reports the
// data plane's configuration errors to the core, nil without one.
func configSource(o outpostOptions, log *slog.Logger, instance string, m *metrics.Metrics) (src outpostapi.Source, events func(context.Context, outpostapi.Event)) {
	if o.configPath != "" {
		return outpostapi.NewStaticSource(o.configPath, log), nil
	}
	core := outpostapi.NewCoreSource(o.env.Core, outpostapi.CoreOptions{
		Logger: log, Version: version, BuildHash: buildHash, InstanceUUID: instance,
	})
	// Down until the websocket says otherwise: a core never reached must
	// show as a link that is down, not as no link at all.
	m.SetConnected(false)
	client := core.Client()
	return core, func(ctx context.Context, ev outpostapi.Event) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := client.PostEvent(ctx, ev); err != nil {
			log.Warn("could not report an event to the core", "action", ev.Action, "error", err)
		}
	}
}
