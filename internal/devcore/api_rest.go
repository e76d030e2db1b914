package devcore

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/outpost-dev/outpost/outpostapi"
)

// maxAPIBody bounds request bodies (events are a few KB).
const maxAPIBody = 1 << 20

// serveAPI is /api/v3/ (spec §1.3, §3): every request needs the bearer token
// of an outpost, and sees only that outpost and its providers.
func (c *controlPlane) serveAPI(w http.ResponseWriter, r *http.Request) {
	token, ok := apiBearer(r)
	if !ok {
		apiError(w, http.StatusForbidden, "Authentication credentials were not provided.")
		return
	}
	cfg := c.s.config()
	o := cfg.outpostForToken(token)
	if o == nil {
		apiError(w, http.StatusForbidden, "Token invalid/expired")
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/api/v3")
	switch {
	case path == pathOutposts:
		if apiMethods(w, r, http.MethodGet) {
			c.serveList(w, r, cfg, o, pathOutposts)
		}
	case path == pathProxyProviders:
		if apiMethods(w, r, http.MethodGet) {
			c.serveList(w, r, cfg, o, pathProxyProviders)
		}
	case path == "/root/config/":
		if apiMethods(w, r, http.MethodGet) {
			apiJSON(w, http.StatusOK, rootConfig(cfg))
		}
	case path == "/events/events/":
		if apiMethods(w, r, http.MethodPost) {
			c.createEvent(w, r, o)
		}
	case strings.HasPrefix(path, "/crypto/certificatekeypairs/"):
		c.serveCertificate(w, r, cfg, o, strings.TrimPrefix(path, "/crypto/certificatekeypairs/"))
	default:
		apiError(w, http.StatusNotFound, "Not found.")
	}
}

// apiBearer is the token of an "Authorization: Bearer" header; the scheme
// is case-insensitive, as in authentik.
func apiBearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// outpostForToken is the outpost whose token is token, or nil. Every token is
// compared in constant time, so timing tells nothing about near misses.
func (c *Config) outpostForToken(token string) *OutpostConfig {
	if token == "" {
		return nil
	}
	var found *OutpostConfig
	for i := range c.Outposts {
		if subtle.ConstantTimeCompare([]byte(c.Outposts[i].Token), []byte(token)) == 1 {
			found = &c.Outposts[i]
		}
	}
	return found
}

// outpostByPK is the outpost with that pk, or nil.
func (c *Config) outpostByPK(pk string) *OutpostConfig {
	for i := range c.Outposts {
		if c.Outposts[i].PK == pk {
			return &c.Outposts[i]
		}
	}
	return nil
}

// providersOf lists the providers assigned to o, ordered by name (the order
// of authentik's provider list).
func (c *Config) providersOf(o *OutpostConfig) []*ProviderConfig {
	out := make([]*ProviderConfig, 0, len(o.Providers))
	for _, name := range o.Providers {
		if i, ok := c.providerIdx[name]; ok {
			out = append(out, &c.Providers[i])
		}
	}
	slices.SortFunc(out, func(a, b *ProviderConfig) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// apiMethods answers 405 the way DRF does unless r uses one of methods; GET
// also allows HEAD.
func apiMethods(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m || (m == http.MethodGet && r.Method == http.MethodHead) {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	apiError(w, http.StatusMethodNotAllowed, `Method "`+r.Method+`" not allowed.`)
	return false
}

func apiJSON(w http.ResponseWriter, status int, v any) {
	b, err := apiBody(v)
	if err != nil {
		// Every response is built from checked configuration; this is a bug.
		http.Error(w, `{"detail":"internal error"}`, http.StatusInternalServerError)
		return
	}
	apiWrite(w, status, b)
}

// apiBody is v as the API sends it: JSON and a newline.
func apiBody(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// apiWrite sends a body made by apiBody.
func apiWrite(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// apiError is DRF's error body, {"detail": "..."}.
func apiError(w http.ResponseWriter, status int, detail string) {
	apiJSON(w, status, map[string]string{"detail": detail})
}

// maxPageSize is authentik's default cap on page_size.
const maxPageSize = 100

// errInvalidPage is DRF's answer (404) to a page that does not exist.
var errInvalidPage = map[string]string{"detail": "Invalid page."}

// paginate cuts items into the page q asks for, like authentik's DRF
// pagination (spec §3.1): page is 1-based or "last"; page_size defaults to
// and is capped at 100, and an invalid page_size means the default. A page
// that does not exist is not ok (404 {"detail":"Invalid page."}). The
// page's items are converted with item, so that only they are built.
func paginate[S, T any](q url.Values, items []S, item func(S) T) (outpostapi.Paginated[T], bool) {
	size := maxPageSize
	if n, err := strconv.Atoi(strings.TrimSpace(q.Get("page_size"))); err == nil && n > 0 {
		size = min(n, maxPageSize)
	}
	count := len(items)
	pages := max(1, (count+size-1)/size) // an empty list still has page 1
	page := 1
	if p := strings.TrimSpace(q.Get("page")); p == "last" {
		page = pages
	} else if p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > pages {
			return outpostapi.Paginated[T]{}, false
		}
		page = n
	}
	start := (page - 1) * size
	end := min(start+size, count)
	out := outpostapi.Paginated[T]{
		Pagination: outpostapi.Pagination{
			Count:      count,
			Current:    page,
			TotalPages: pages,
		},
		Results:      make([]T, 0, end-start),
		Autocomplete: map[string]any{},
	}
	for _, it := range items[start:end] {
		out.Results = append(out.Results, item(it))
	}
	if count > 0 {
		out.Pagination.StartIndex = start + 1
		out.Pagination.EndIndex = end
	}
	if page > 1 {
		out.Pagination.Previous = page - 1
	}
	if page < pages {
		out.Pagination.Next = page + 1
	}
	return out, true
}

// List endpoints whose responses the listCache keeps.
const (
	pathOutposts       = "/outposts/instances/"
	pathProxyProviders = "/outposts/proxy/"
)

// serveList answers one of the list endpoints from the cache, rendering
// and keeping the body on a miss.
func (c *controlPlane) serveList(w http.ResponseWriter, r *http.Request, cfg *Config, o *OutpostConfig, path string) {
	key := listKey{path: path, outpost: o.PK, base: requestBaseURL(r), query: r.URL.Query().Encode()}
	if status, body, ok := c.lists.get(cfg, key); ok {
		apiWrite(w, status, body)
		return
	}
	status, body, err := renderList(cfg, o, key)
	if err != nil {
		http.Error(w, `{"detail":"internal error"}`, http.StatusInternalServerError)
		return
	}
	c.lists.put(cfg, key, status, body)
	apiWrite(w, status, body)
}

// renderList is the response to a list request: a pure function of the
// configuration, the outpost, the base URL and the query.
func renderList(cfg *Config, o *OutpostConfig, key listKey) (int, []byte, error) {
	q, err := url.ParseQuery(key.query)
	if err != nil {
		return 0, nil, err
	}
	var page any
	var ok bool
	switch key.path {
	case pathOutposts:
		// An outpost's service account sees its own outpost only.
		page, ok = paginate(q, []*OutpostConfig{o}, func(o *OutpostConfig) apiOutpost { return outpostObject(cfg, o) })
	case pathProxyProviders:
		page, ok = paginate(q, filterProxyProviders(cfg, o, q), func(p *ProviderConfig) outpostapi.ProxyOutpostConfig {
			return proxyOutpostConfig(cfg, p, key.base)
		})
	default:
		return 0, nil, errors.New("devcore: not a list endpoint: " + key.path)
	}
	status := http.StatusOK
	if !ok {
		status, page = http.StatusNotFound, errInvalidPage
	}
	b, err := apiBody(page)
	return status, b, err
}

// filterProxyProviders is o's providers after authentik's name, search
// and ordering filters of GET /api/v3/outposts/proxy/.
func filterProxyProviders(cfg *Config, o *OutpostConfig, q url.Values) []*ProviderConfig {
	provs := cfg.providersOf(o)
	if name := q.Get("name"); name != "" {
		provs = slices.DeleteFunc(provs, func(p *ProviderConfig) bool { return p.Name != name })
	}
	if search := strings.ToLower(q.Get("search")); search != "" {
		provs = slices.DeleteFunc(provs, func(p *ProviderConfig) bool { return !strings.Contains(strings.ToLower(p.Name), search) })
	}
	switch q.Get("ordering") {
	case "-name":
		slices.Reverse(provs)
	case "pk":
		slices.SortStableFunc(provs, func(a, b *ProviderConfig) int { return a.PK - b.PK })
	case "-pk":
		slices.SortStableFunc(provs, func(a, b *ProviderConfig) int { return b.PK - a.PK })
	}
	return provs
}

// serveCertificate is /api/v3/crypto/certificatekeypairs/<uuid>/ and its
// view_certificate/ and view_private_key/ actions, for certificates used by
// the caller's providers only.
func (c *controlPlane) serveCertificate(w http.ResponseWriter, r *http.Request, cfg *Config, o *OutpostConfig, rest string) {
	parts := strings.Split(rest, "/")
	if len(parts) < 2 || parts[len(parts)-1] != "" || !djangoUUID.MatchString(parts[0]) {
		apiError(w, http.StatusNotFound, "Not found.")
		return
	}
	action := ""
	switch len(parts) {
	case 2:
	case 3:
		action = parts[1]
		if action != "view_certificate" && action != "view_private_key" {
			apiError(w, http.StatusNotFound, "Not found.")
			return
		}
	default:
		apiError(w, http.StatusNotFound, "Not found.")
		return
	}
	if !apiMethods(w, r, http.MethodGet) {
		return
	}
	cc := cfg.certificateByUUID(parts[0])
	if cc == nil || !outpostUsesCertificate(cfg, o, cc.Name) {
		apiError(w, http.StatusNotFound, "No CertificateKeyPair matches the given query.")
		return
	}
	var data, suffix string
	switch action {
	case "":
		apiJSON(w, http.StatusOK, certificateObject(cc))
		return
	case "view_certificate":
		data, suffix = cc.material.certPEM, "_certificate.pem"
	case "view_private_key":
		data, suffix = cc.material.keyPEM, "_private_key.pem"
	}
	if _, download := r.URL.Query()["download"]; download {
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Header().Set("Content-Disposition", `attachment; filename="`+cc.Name+suffix+`"`)
		_, _ = w.Write([]byte(data))
		return
	}
	apiJSON(w, http.StatusOK, outpostapi.CertificateData{Data: data})
}

func outpostUsesCertificate(cfg *Config, o *OutpostConfig, certName string) bool {
	for _, p := range cfg.providersOf(o) {
		if p.Certificate == certName {
			return true
		}
	}
	return false
}

// apiEvent is authentik's Event object as the API returns it.
type apiEvent struct {
	PK       string         `json:"pk"`
	User     map[string]any `json:"user"`
	Action   string         `json:"action"`
	App      string         `json:"app"`
	Context  map[string]any `json:"context"`
	ClientIP *string        `json:"client_ip"`
	Created  time.Time      `json:"created"`
	Expires  time.Time      `json:"expires"`
	Brand    map[string]any `json:"brand"`
}

// statusEvent is an event as the status endpoint lists it: with the pk of
// the outpost that posted it.
type statusEvent struct {
	apiEvent
	Outpost string `json:"outpost"`
}

// createEvent is POST /api/v3/events/events/ (the outpost reports
// configuration errors this way, spec §3.4). Field errors are DRF's shape,
// {"field": ["message"]}.
func (c *controlPlane) createEvent(w http.ResponseWriter, r *http.Request, o *OutpostConfig) {
	var in map[string]any
	if err := wsDecodeOne(apiReadBody(w, r), &in); err != nil || in == nil {
		apiError(w, http.StatusBadRequest, "JSON parse error: the body must be one JSON object")
		return
	}
	problems := map[string][]string{}
	str := func(key string, required bool) (string, bool) {
		v, present := in[key]
		if !present || v == nil {
			if required {
				problems[key] = []string{"This field is required."}
			}
			return "", false
		}
		s, ok := v.(string)
		if !ok || (required && s == "") {
			problems[key] = []string{"Not a valid string."}
			return "", false
		}
		return s, true
	}
	ev := apiEvent{PK: uuid.NewString(), User: map[string]any{}, Context: map[string]any{}}
	ev.Action, _ = str("action", true)
	ev.App, _ = str("app", true)
	if ip, ok := str("client_ip", false); ok {
		ev.ClientIP = &ip
	}
	for _, key := range []string{"context", "user"} {
		v, present := in[key]
		if !present || v == nil {
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			problems[key] = []string{"Value must be valid JSON object."}
			continue
		}
		if key == "context" {
			ev.Context = m
		} else {
			ev.User = m
		}
	}
	if len(problems) > 0 {
		apiJSON(w, http.StatusBadRequest, problems)
		return
	}
	ev.Created = time.Now().UTC()
	ev.Expires = ev.Created.AddDate(1, 0, 0)
	c.mu.Lock()
	c.events = append(c.events, statusEvent{apiEvent: ev, Outpost: o.PK})
	if len(c.events) > maxEvents {
		c.events = slices.Delete(c.events, 0, len(c.events)-maxEvents)
	}
	c.mu.Unlock()
	c.s.log.Info("event from outpost", "outpost", o.Name, "action", ev.Action, "app", ev.App)
	apiJSON(w, http.StatusCreated, ev)
}

// apiReadBody reads a bounded request body; one that is too large or fails
// reads as empty, which the caller rejects as invalid JSON.
func apiReadBody(w http.ResponseWriter, r *http.Request) []byte {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
	if err != nil {
		return nil
	}
	return b
}
