package devcore

import (
	"fmt"
	"slices"
	"strings"
)

// DefaultCoreVersion is the authentik release the devcore speaks as when
// the file does not say (docs/core-protocol.md describes it).
const DefaultCoreVersion = "2026.2"

// coreRelease is what differs, on the wire an outpost reads, between the
// authentik releases the devcore can speak as.
type coreRelease struct {
	// nullFlows: providers_obj[*].authorization_flow and invalidation_flow
	// are null. The devcore has no flows; the 2026.2 schema requires a
	// UUID there, so it sends made-up ones, while 2026.8.1's allows null
	// (authentik PR 25243), so it says there is none.
	nullFlows bool
	// capabilities of GET /api/v3/root/config/.
	capabilities []string
	// trustedForwardingOnly: X-Forwarded-* count only from the trusted
	// proxy CIDRs (2026.8; before, the core honoured them from anyone).
	trustedForwardingOnly bool
}

// What a default installation's core sends: media on a volume, impersonation
// allowed, the enterprise app installed.
var capabilities2026_2 = []string{"can_save_media", "can_impersonate", "is_enterprise"}

// 2026.8 added two values to the capabilities enum; a client that decodes the
// enum as closed fails on them.
var capabilities2026_8 = slices.Concat(capabilities2026_2, []string{"can_request", "can_agent_self_service"})

// coreReleases are the values core_version accepts, oldest first. 2026.8
// means its latest patch release (2026.8.1 brought the null flows). No change
// to what an outpost reads is known for 2026.11, so it is served as 2026.8.
var coreReleases = []struct {
	name string
	coreRelease
}{
	{"2026.2", coreRelease{capabilities: capabilities2026_2}},
	{"2026.8", coreRelease{nullFlows: true, capabilities: capabilities2026_8, trustedForwardingOnly: true}},
	{"2026.11", coreRelease{nullFlows: true, capabilities: capabilities2026_8, trustedForwardingOnly: true}},
}

// CoreVersions lists the values core_version accepts, oldest first.
func CoreVersions() []string {
	out := make([]string, len(coreReleases))
	for i, r := range coreReleases {
		out[i] = r.name
	}
	return out
}

// lookupCoreRelease is the release named v ("" is DefaultCoreVersion).
func lookupCoreRelease(v string) (coreRelease, error) {
	if v == "" {
		v = DefaultCoreVersion
	}
	for _, r := range coreReleases {
		if r.name == v {
			return r.coreRelease, nil
		}
	}
	return coreRelease{}, fmt.Errorf("%q: want one of %s", v, strings.Join(CoreVersions(), ", "))
}

// checkCoreVersion resolves core_version into c.release.
func (c *Config) checkCoreVersion() error {
	r, err := lookupCoreRelease(c.CoreVersion)
	if err != nil {
		return c.fieldErr("core_version", []any{"core_version"}, "%v", err)
	}
	if c.CoreVersion == "" {
		c.CoreVersion = DefaultCoreVersion
	}
	c.release = r
	return nil
}

// speakingAs is c as the Server serves it: with the Server's core version
// when one was given. c itself, prepared and perhaps shared, is not changed.
func (s *Server) speakingAs(c *Config) *Config {
	if s.coreVersion == "" || s.coreVersion == c.CoreVersion {
		return c
	}
	cp := *c
	// SetConfig writes kept certificates into the configuration it puts in
	// force; the copy must not write into c's.
	cp.Certificates = slices.Clone(c.Certificates)
	cp.CoreVersion = s.coreVersion
	cp.release, _ = lookupCoreRelease(s.coreVersion) // checked by New
	return &cp
}
