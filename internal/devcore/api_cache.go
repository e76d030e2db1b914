package devcore

import (
	"net/url"
	"strconv"
	"sync"
)

// listCache keeps rendered responses of the list endpoints
// (/outposts/instances/, /outposts/proxy/) for the configuration in force.
// A response is a pure function of the configuration, the outpost, the base
// URL the outpost reached the core by and the query, and outposts ask for
// the same pages on every refresh; with 1,000 providers, rendering them was
// most of the devcore's work in a refresh. The bytes sent are the same
// either way.
//
// When the configuration changes, the cache starts empty and is warmed in
// the background with what an outpost fetches in a refresh (its outpost
// object and every page of 100 providers) for each base URL the API was
// recently reached by, so that the first refresh after a change does not
// wait for rendering either.
type listCache struct {
	mu      sync.Mutex
	cfg     *Config // the configuration the entries belong to
	entries map[listKey]listEntry
	bytes   int
	// bases are the base URLs the API was reached by (at most maxListBases),
	// for warming.
	bases map[string]struct{}
}

type listKey struct {
	path    string // pathOutposts or pathProxyProviders
	outpost string // outpost pk
	base    string // requestBaseURL
	query   string // the query, canonically encoded (url.Values.Encode)
}

type listEntry struct {
	status int
	body   []byte
}

// Bounds of the cache: arbitrary queries (search, odd page sizes) must not
// make it grow without limit.
const (
	maxListEntries = 1024
	maxListBytes   = 64 << 20
	maxListBases   = 8
	// warmPageSize is the page size outposts ask for (spec §3.2).
	warmPageSize = 100
	// maxWarmPages bounds warming per outpost and base.
	maxWarmPages = 100
)

// get is the cached response to key under cfg.
func (lc *listCache) get(cfg *Config, key listKey) (status int, body []byte, ok bool) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if len(lc.bases) < maxListBases {
		if lc.bases == nil {
			lc.bases = map[string]struct{}{}
		}
		lc.bases[key.base] = struct{}{}
	}
	if lc.cfg != cfg {
		return 0, nil, false
	}
	e, ok := lc.entries[key]
	return e.status, e.body, ok
}

// put keeps a response rendered under cfg, unless cfg is no longer the
// configuration the cache is for or the cache is full. body is never
// changed afterwards.
func (lc *listCache) put(cfg *Config, key listKey, status int, body []byte) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.cfg != cfg {
		return
	}
	if _, dup := lc.entries[key]; dup || len(lc.entries) >= maxListEntries || lc.bytes+len(body) > maxListBytes {
		return
	}
	lc.entries[key] = listEntry{status: status, body: body}
	lc.bytes += len(body)
}

// reset empties the cache for cfg, the configuration now in force, and
// returns the base URLs worth warming. A cfg older than the one the cache
// is for is ignored (nil bases).
func (lc *listCache) reset(cfg *Config) []string {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.cfg == cfg {
		return nil
	}
	lc.cfg = cfg
	lc.entries = map[listKey]listEntry{}
	lc.bytes = 0
	bases := make([]string, 0, len(lc.bases))
	for b := range lc.bases {
		bases = append(bases, b)
	}
	return bases
}

// current reports whether cfg is still the configuration the cache is for.
func (lc *listCache) current(cfg *Config) bool {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.cfg == cfg
}

// warm renders, for every outpost of cfg and each base, what a refresh
// fetches: the outpost list and every page of providers at the page size
// outposts use. It stops early once cfg is replaced.
func (lc *listCache) warm(cfg *Config, bases []string) {
	for _, base := range bases {
		for i := range cfg.Outposts {
			o := &cfg.Outposts[i]
			keys := []listKey{{path: pathOutposts, outpost: o.PK, base: base}}
			pages := min(maxWarmPages, max(1, (len(cfg.providersOf(o))+warmPageSize-1)/warmPageSize))
			for page := 1; page <= pages; page++ {
				q := url.Values{"page": {strconv.Itoa(page)}, "page_size": {strconv.Itoa(warmPageSize)}}
				keys = append(keys, listKey{path: pathProxyProviders, outpost: o.PK, base: base, query: q.Encode()})
			}
			for _, key := range keys {
				if !lc.current(cfg) {
					return
				}
				if _, _, ok := lc.get(cfg, key); ok {
					continue
				}
				status, body, err := renderList(cfg, o, key)
				if err != nil {
					continue
				}
				lc.put(cfg, key, status, body)
			}
		}
	}
}
