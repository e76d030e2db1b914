package outpostapi

import (
	"fmt"
	"strings"
)

// DefaultAllowedUpgrades are the protocols a proxy-mode provider lets a
// client switch to when nothing says otherwise. Any other upgrade (h2c,
// SPDY/3.1, tcp, ...) would be a tunnel to the app that carries whatever
// requests and headers the client likes, past every check of the outpost.
var DefaultAllowedUpgrades = []string{"websocket"}

// CheckUpgradeProtocol says why p cannot name an Upgrade protocol (RFC 9110
// §7.8: a token, optionally "/" and a version token), or nil.
func CheckUpgradeProtocol(p string) error {
	name, version, hasVersion := strings.Cut(p, "/")
	if !isToken(name) || hasVersion && !isToken(version) {
		return fmt.Errorf("%q is not an upgrade protocol (a token such as websocket, optionally with /version)", p)
	}
	return nil
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
