package main

import (
	"crypto/sha256"
	"encoding/json"
	"log/slog"

	"github.com/outpost-dev/outpost/outpostapi"
)

// configInForce logs "configuration in force" once per configuration: a
// core refresh that brings back the same providers every few minutes is a
// debug line, not another info line that reads like a change. A YAML file
// is only read again when it changed, so each of its snapshots is logged.
type configInForce struct {
	last [sha256.Size]byte
	seen bool
}

// log writes the line for snap, whose data plane left out failed providers
// (already named by the data plane's own log line).
func (c *configInForce) log(log *slog.Logger, snap *outpostapi.Snapshot, failed int) {
	sum := fingerprint(snap)
	attrs := []any{"source", snap.Source, "outpost", snap.Outpost.Name,
		"providers", len(snap.Providers) - failed, "rejected", len(snap.Rejected) + failed}
	if c.seen && sum == c.last && snap.Source == "core" {
		log.Debug("configuration refreshed, unchanged", attrs...)
		return
	}
	c.last, c.seen = sum, true
	log.Info("configuration in force", attrs...)
}

// fingerprint is what the configuration says, without when it was loaded.
func fingerprint(snap *outpostapi.Snapshot) [sha256.Size]byte {
	cfgs := make([]outpostapi.ProxyOutpostConfig, len(snap.Providers))
	for i, p := range snap.Providers {
		cfgs[i] = p.ProxyOutpostConfig
	}
	b, _ := json.Marshal(struct {
		Source    string
		Outpost   outpostapi.OutpostInfo
		Providers []outpostapi.ProxyOutpostConfig
		Rejected  []outpostapi.ProviderError
		Certs     map[string]outpostapi.Certificate
	}{snap.Source, snap.Outpost, cfgs, snap.Rejected, snap.Certificates})
	return sha256.Sum256(b)
}
