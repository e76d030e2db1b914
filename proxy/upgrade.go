package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// A protocol upgrade through the outpost is a tunnel: once the app answers
// 101, whatever the client sends reaches it without another look from the
// outpost. After an h2c upgrade that is HTTP/2 requests for any path with
// any headers, X-authentik-* included. So a proxy-mode provider lets
// through only the protocols it allows (websocket by default), and every
// upgrade it lets through is counted per client and tied to its session,
// as websockets are.

// upgradeRequest leaves in h at most one upgrade protocol, an allowed one,
// and returns it ("" when the request upgrades to nothing). refused are
// the protocols the client asked for and may not have. Every token of
// every Upgrade line is judged, whatever its case: "websocket, h2c" keeps
// websocket only. A request without "Connection: upgrade" upgrades to
// nothing, and its Upgrade lines go (as ReverseProxy would drop them).
func upgradeRequest(h http.Header, allowed []string) (proto string, refused []string) {
	lines := h["Upgrade"]
	// HTTP2-Settings only means something with an h2c upgrade.
	defer func() {
		if !strings.EqualFold(proto, "h2c") {
			delete(h, "Http2-Settings")
		}
	}()
	if len(lines) == 0 {
		return "", nil
	}
	delete(h, "Upgrade")
	for _, line := range lines {
		for tok := range strings.SplitSeq(line, ",") {
			tok = strings.TrimSpace(tok)
			switch {
			case tok == "":
			case proto == "" && upgradeAllowed(tok, allowed):
				proto = tok
			case !upgradeAllowed(tok, allowed):
				refused = append(refused, tok)
			}
		}
	}
	if !httpguts.HeaderValuesContainsToken(h["Connection"], "upgrade") {
		return "", refused
	}
	if proto != "" {
		h["Upgrade"] = []string{proto}
	}
	return proto, refused
}

// upgradeAllowed: tok ("name" or "name/version", RFC 9110 tokens) is
// allowed when an entry names it whole or names its protocol (any
// version), ignoring case. Anything that is not such a token is not.
func upgradeAllowed(tok string, allowed []string) bool {
	name, version, versioned := strings.Cut(tok, "/")
	if !isToken(name) || versioned && !isToken(version) {
		return false
	}
	for _, a := range allowed {
		if strings.EqualFold(a, tok) || strings.EqualFold(a, name) {
			return true
		}
	}
	return false
}

var errUnaskedSwitch = errors.New("upstream switched protocols")

// checkSwitch refuses a 101 unless it switches to the protocol the outpost
// let the request ask for (asked, "" for none), so that nothing the app
// answers, to a request without an upgrade or with another one, becomes a
// tunnel.
func checkSwitch(resp *http.Response, asked string) error {
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil
	}
	got := ""
	if httpguts.HeaderValuesContainsToken(resp.Header["Connection"], "upgrade") {
		got = resp.Header.Get("Upgrade")
	}
	if asked == "" || !strings.EqualFold(got, asked) {
		return fmt.Errorf("%w to %q, not to the allowed %q the request asked for", errUnaskedSwitch, got, asked)
	}
	return nil
}

// isToken: one or more RFC 9110 token characters.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !httpguts.IsTokenRune(r) {
			return false
		}
	}
	return true
}
