package session

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// verifiedCookies remembers cookie values that a codec has verified in
// full (HMAC, decryption, age), so that a browser's every request does not
// pay for an HMAC and an AES setup again: that was most of the cost of a
// signed-in request's decision (issue 10). An entry maps the exact value
// to what it carried and when it was issued; the age limit is checked
// again on every hit, so a value stops working at the same moment as
// without the cache. Nothing is ever added that did not verify.
type verifiedCookies struct {
	mu      sync.RWMutex
	entries map[cookieKey]verifiedCookie
	max     int
}

// cookieKey scopes a value to the keys that verified it: a value of one
// provider (or one cookie secret) never hits for another.
type cookieKey struct {
	scope string
	value string
}

type verifiedCookie struct {
	id     string
	issued int64 // unix seconds, from the value's signed timestamp
}

// maxVerifiedCookies bounds the cache across all providers: at a few
// hundred bytes per entry this is a few MB.
const maxVerifiedCookies = 16384

var verified = &verifiedCookies{entries: map[cookieKey]verifiedCookie{}, max: maxVerifiedCookies}

// lookup returns the id a verified value carried, if it is known and not
// older than maxAge at now.
func (v *verifiedCookies) lookup(scope, value string, maxAge time.Duration, now time.Time) (string, bool) {
	v.mu.RLock()
	e, ok := v.entries[cookieKey{scope, value}]
	v.mu.RUnlock()
	if !ok || e.issued < now.Unix()-int64(maxAge/time.Second) {
		return "", false
	}
	return e.id, true
}

// remember records a value that has just verified in full.
func (v *verifiedCookies) remember(scope, value, id string) {
	issued, ok := issuedAt(value)
	if !ok {
		return
	}
	// value is a slice of the request's Cookie header: keep a copy, not
	// the whole header alive. id is the caller's own string.
	k := cookieKey{scope, strings.Clone(value)}
	v.mu.Lock()
	defer v.mu.Unlock()
	for k2 := range v.entries {
		if len(v.entries) < v.max {
			break
		}
		delete(v.entries, k2) // map order is random: a random victim
	}
	v.entries[k] = verifiedCookie{id: id, issued: issued}
}

// issuedAt reads the signed timestamp of a securecookie value
// (base64url of "date|value|mac"); the caller has verified the MAC.
func issuedAt(value string) (int64, bool) {
	b, err := base64.URLEncoding.DecodeString(value)
	if err != nil {
		return 0, false
	}
	date, _, ok := bytes.Cut(b, []byte("|"))
	if !ok {
		return 0, false
	}
	t, err := strconv.ParseInt(string(date), 10, 64)
	return t, err == nil
}

// cachedSessionID finds, without parsing every cookie, a cookie named name
// whose exact value is in the cache. Anything else (unknown values, quoted
// values) takes the full path.
func cachedSessionID(r *http.Request, name, scope string, maxAge time.Duration) (string, bool) {
	now := time.Now()
	for _, line := range r.Header["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			n, val, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || n != name {
				continue
			}
			if id, ok := verified.lookup(scope, val, maxAge, now); ok {
				return id, true
			}
		}
	}
	return "", false
}
