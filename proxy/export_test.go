package proxy

import "time"

// SetKeyRefreshInterval shortens the least time between JWKS fetches for
// the providers s builds from its next Update on, so tests can see a key
// rotation picked up without waiting a minute.
func SetKeyRefreshInterval(s *Server, d time.Duration) { s.shared.keyRefresh = d }

// SetRecheckWhileDown changes how often websockets' sessions are checked
// while the store's revocation feed is down; restore puts it back.
func SetRecheckWhileDown(d time.Duration) (restore func()) {
	old := recheckWhileDown.Swap(int64(d))
	return func() { recheckWhileDown.Store(old) }
}

// SetDiscoveryBackoff shortens the first retry of a failed OIDC discovery
// for the providers s starts discovering from now on.
func SetDiscoveryBackoff(s *Server, d time.Duration) {
	s.shared.discoveries.mu.Lock()
	defer s.shared.discoveries.mu.Unlock()
	s.shared.discoveries.minDelay = d
}
