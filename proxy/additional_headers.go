package proxy

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
)

// An authentik core's provider can set any header as identity: the
// additionalHeaders user or group attribute (X-Role, Remote-User, ...).
// Such a name must never reach the app with a client's value, for the
// users who have it and for everyone else, skipped paths included. The
// names are not in the provider's configuration, so the outpost knows them
// two ways: declared (OUTPOST_AUTH__ADDITIONAL_HEADERS), removed from the
// first request on; and learned, each name any session of the provider
// sets, removed from then on.

// maxLearnedHeaders bounds the names learned per provider. A name past it
// is not set: a header the outpost cannot keep clients from sending is not
// an identity the app can trust.
const maxLearnedHeaders = 256

// standardRequestHeaders are names apps need from clients. additionalHeaders
// may still set them for a user (as authentik does), but they are never
// removed from other users' requests, and cannot be declared.
var standardRequestHeaders = map[string]bool{
	"Accept": true, "Accept-Charset": true, "Accept-Encoding": true, "Accept-Language": true,
	"Authorization": true, "Cache-Control": true, "Connection": true, "Content-Encoding": true,
	"Content-Length": true, "Content-Type": true, "Cookie": true, "Expect": true, "Forwarded": true,
	"Host": true, "If-Match": true, "If-Modified-Since": true, "If-None-Match": true, "If-Range": true,
	"If-Unmodified-Since": true, "Origin": true, "Pragma": true, "Range": true, "Referer": true,
	"Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "User-Agent": true,
	"Via": true, "X-Forwarded-For": true, "X-Forwarded-Host": true, "X-Forwarded-Proto": true,
	"X-Real-Ip": true, "X-Request-Id": true,
	"Sec-Websocket-Key": true, "Sec-Websocket-Version": true, "Sec-Websocket-Protocol": true, "Sec-Websocket-Extensions": true,
}

// CheckAdditionalHeaderName says why name cannot be declared, or nil.
func CheckAdditionalHeaderName(name string) error {
	c := http.CanonicalHeaderKey(name)
	switch {
	case !plainHeaderName(c) || c == "":
		return fmt.Errorf("%q is not a header name (letters, digits and - only)", name)
	case standardRequestHeaders[c]:
		return fmt.Errorf("%s is a standard request header apps need from clients", c)
	case hasPrefixFold(c, "X-Authentik"):
		return fmt.Errorf("%s: X-authentik-* headers are always removed from clients", c)
	}
	return nil
}

// additionalNames are one provider's names: declared and learned. It lives
// across configuration updates, like the provider.
type additionalNames struct {
	provider string
	log      *slog.Logger
	declared int // names[:declared] were declared
	mu       sync.Mutex
	// names is replaced whole on learning: requests read it without a lock.
	names atomic.Pointer[[]string]
}

// additionalRegistry hands out each provider's names.
type additionalRegistry struct {
	declared []string // canonical
	mu       sync.Mutex
	byName   map[string]*additionalNames
}

func newAdditionalRegistry(declared []string) *additionalRegistry {
	r := &additionalRegistry{byName: map[string]*additionalNames{}}
	for _, n := range declared {
		if c := http.CanonicalHeaderKey(n); CheckAdditionalHeaderName(c) == nil && !slices.Contains(r.declared, c) {
			r.declared = append(r.declared, c)
		}
	}
	return r
}

func (r *additionalRegistry) forProvider(provider string, log *slog.Logger) *additionalNames {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n, ok := r.byName[provider]; ok {
		return n
	}
	n := &additionalNames{provider: provider, log: log, declared: len(r.declared)}
	names := slices.Clone(r.declared)
	n.names.Store(&names)
	r.byName[provider] = n
	return n
}

// strip removes every known name from a client's request.
func (n *additionalNames) strip(h http.Header) {
	for _, name := range *n.names.Load() {
		delete(h, name)
	}
}

// allow learns a canonical name the provider sets and says whether it may
// be set.
func (n *additionalNames) allow(name string) bool {
	// X-authentik-* names are removed from every client already.
	if standardRequestHeaders[name] || hasPrefixFold(name, "X-Authentik") || slices.Contains(*n.names.Load(), name) {
		return true
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	cur := *n.names.Load()
	if slices.Contains(cur, name) {
		return true
	}
	if len(cur)-n.declared >= maxLearnedHeaders {
		n.log.Error("additionalHeaders header not set: too many distinct names for this provider", "provider", n.provider, "header", name, "limit", maxLearnedHeaders)
		return false
	}
	next := append(slices.Clone(cur), name)
	n.names.Store(&next)
	n.log.Warn("additionalHeaders sets a header OUTPOST_AUTH__ADDITIONAL_HEADERS does not list: clients' own values are removed only from now on, on this replica; list it", "provider", n.provider, "header", name)
	return true
}
