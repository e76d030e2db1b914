package main

import (
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"maps"
	"slices"

	"github.com/outpost-dev/outpost/outpostapi"
)

// configReport is the one place that tells the operator what configuration
// is in force, whichever source it came from: the first one, each one that
// replaces it, and each provider left out. A core refresh that brings back
// the same every few minutes is a debug line, not another info line that
// reads like a change; a YAML file is only read again when it changed or
// on SIGUSR1, so each of its snapshots is logged. A provider left out is
// named once per cause. Its methods are called from the source's
// goroutine, one at a time.
type configReport struct {
	last    [sha256.Size]byte
	seen    bool
	leftOut []outpostapi.ProviderError
}

// inForce logs snap, put in force without the providers the data plane
// could not build (dropped).
func (c *configReport) inForce(log *slog.Logger, snap *outpostapi.Snapshot, dropped []outpostapi.ProviderError) {
	leftOut := append(slices.Clone(snap.Rejected), dropped...)
	for _, e := range leftOut {
		if !slices.Contains(c.leftOut, e) {
			log.Warn("provider left out of the configuration", "provider", e.Provider, "field", e.Field, "error", e.Err)
		}
	}
	c.leftOut = leftOut
	sum := fingerprint(snap)
	attrs := []any{"source", snap.Source, "outpost", snap.Outpost.Name,
		"providers", len(snap.Providers) - len(dropped), "rejected", len(leftOut)}
	switch {
	case !c.seen:
		log.Info("configuration in force", attrs...)
	case sum == c.last && snap.Source == "core":
		log.Debug("configuration refreshed, unchanged", attrs...)
	default:
		log.Info("configuration reloaded", attrs...)
	}
	c.last, c.seen = sum, true
}

// fingerprint is what the configuration says, without when it was loaded.
// Each part is encoded on its own into the hash, so that no buffer holds
// the whole configuration: encoding/json pools its buffers, and one of
// 1,000 providers kept 2 MB alive long after they were gone.
func fingerprint(snap *outpostapi.Snapshot) [sha256.Size]byte {
	h := sha256.New()
	enc := json.NewEncoder(h)
	_ = enc.Encode(snap.Source)
	_ = enc.Encode(snap.Outpost)
	_ = enc.Encode(len(snap.Providers))
	for _, p := range snap.Providers {
		_ = enc.Encode(p.ProxyOutpostConfig)
	}
	_ = enc.Encode(snap.Rejected)
	for _, id := range slices.Sorted(maps.Keys(snap.Certificates)) {
		_ = enc.Encode(id)
		_ = enc.Encode(snap.Certificates[id])
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}
