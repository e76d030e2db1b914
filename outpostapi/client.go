package outpostapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Client limits.
const (
	// maxResponseBytes caps a core response: a page of 100 providers is a
	// few hundred KiB, so anything near this is not a core talking.
	maxResponseBytes = 16 << 20
	// providersPageSize is the page size the reference asks for.
	providersPageSize = 100
	// maxProviderPages stops a core that keeps announcing pages.
	maxProviderPages = 1000
	// bodyExcerptBytes is how much of an error body goes into HTTPError.
	bodyExcerptBytes = 256
	// requestTimeout bounds one REST call end to end.
	requestTimeout = 30 * time.Second
)

// ErrTokenRejected matches (errors.Is) an HTTPError with status 401 or 403.
var ErrTokenRejected = errors.New("the core rejected AUTHENTIK_TOKEN")

// HTTPError is a core response with an unexpected status.
type HTTPError struct {
	Method     string
	Path       string // request path, without the query
	StatusCode int
	// Body is a short, single-line excerpt of the response body.
	Body string
}

func (e *HTTPError) Error() string {
	if e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden {
		return fmt.Sprintf("%s %s: HTTP %d: the core rejected AUTHENTIK_TOKEN: check that it is the outpost's API token (identifier ak-outpost-<outpost uuid>-api) and not expired: %s",
			e.Method, e.Path, e.StatusCode, e.Body)
	}
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.StatusCode, e.Body)
}

// Is makes errors.Is(err, ErrTokenRejected) true for 401 and 403.
func (e *HTTPError) Is(target error) bool {
	return target == ErrTokenRejected && (e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden)
}

// Client is the outpost's REST client for the core API (spec §1.3, §3).
type Client struct {
	host      *url.URL // AUTHENTIK_HOST, path ending in "/"
	token     string
	userAgent string
	http      *http.Client
}

// NewClient builds a client for core.Host. version and buildHash make up the
// User-Agent the core sees (goauthentik.io/outpost/<version>[+<build>]).
func NewClient(core CoreEndpoint, version, buildHash string) *Client {
	host := core.Host
	if host == nil {
		host = &url.URL{Scheme: "http", Host: "invalid.", Path: "/"}
	}
	// The reference REST transport ignores HTTP(S)_PROXY (only its websocket
	// dialer honours them); doing the same keeps deployments that rely on it
	// working.
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       &tls.Config{InsecureSkipVerify: core.Insecure, MinVersion: tls.VersionTLS12}, //nolint:gosec // AUTHENTIK_INSECURE asks for it
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: requestTimeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	}
	return &Client{
		host:      host,
		token:     core.Token,
		userAgent: UserAgent(version, buildHash),
		http:      &http.Client{Transport: tr, Timeout: requestTimeout},
	}
}

// UserAgent is the User-Agent of the outpost's calls to the core.
func UserAgent(version, buildHash string) string {
	if buildHash == "" {
		return "goauthentik.io/outpost/" + version
	}
	return "goauthentik.io/outpost/" + version + "+" + buildHash
}

// CloseIdleConnections releases pooled connections (on shutdown).
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// apiURL is <AUTHENTIK_HOST path>api/v3/<rel>; AUTHENTIK_HOST's own query
// belongs to the websocket only.
func (c *Client) apiURL(rel string, query url.Values) *url.URL {
	u := *c.host
	u.Path = c.host.Path + "api/v3/" + rel
	u.RawPath = ""
	u.RawQuery = query.Encode()
	u.Fragment, u.RawFragment = "", ""
	return &u
}

// do sends one request; any 2xx is success, and a JSON response is decoded
// into out (when non-nil).
func (c *Client) do(ctx context.Context, method, rel string, query url.Values, body any, out any) error {
	u := c.apiURL(rel, query)
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: encoding request: %w", method, u.Path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u.Path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// url.Error repeats the whole URL; the path is enough and shorter.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%s %s: %w", method, u.Path, err)
	}
	defer resp.Body.Close()
	b, err := readBody(resp, maxResponseBytes)
	if err != nil {
		return fmt.Errorf("%s %s: reading response: %w", method, u.Path, err)
	}
	if len(b) > maxResponseBytes {
		return fmt.Errorf("%s %s: response larger than %d bytes", method, u.Path, maxResponseBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &HTTPError{Method: method, Path: u.Path, StatusCode: resp.StatusCode, Body: excerpt(b, c.token)}
	}
	if out == nil {
		return nil
	}
	// Unknown fields are ignored (encoding/json's default), so newer cores
	// with extra properties keep working.
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: HTTP %d: decoding response: %v (body starts %q)", method, u.Path, resp.StatusCode, err, excerpt(b, c.token))
	}
	return nil
}

// readBody reads at most limit+1 bytes of resp's body: in one allocation
// when the response says how long it is (a page of 100 providers is about
// 150 KB, which io.ReadAll reaches by doubling from 512 bytes).
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	r := io.LimitReader(resp.Body, limit+1)
	n := resp.ContentLength
	if n < 0 || n > limit {
		return io.ReadAll(r)
	}
	// One byte more than announced, to see the end without growing.
	b := make([]byte, 0, n+1)
	for {
		m, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			// Longer than announced: grow as io.ReadAll does.
			b = append(b, 0)[:len(b)]
		}
	}
}

// excerpt shortens a body for an error message, on one line, without the
// token should a misbehaving server echo it.
func excerpt(b []byte, token string) string {
	if len(b) > bodyExcerptBytes {
		b = b[:bodyExcerptBytes]
		for len(b) > 0 && !utf8.Valid(b) {
			b = b[:len(b)-1]
		}
	}
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
	if token != "" {
		s = strings.ReplaceAll(s, token, "[redacted]")
	}
	return s
}

// Outposts lists the outposts the token can see (GET /outposts/instances/);
// for an outpost's own token that is exactly one, its own.
func (c *Client) Outposts(ctx context.Context) ([]Outpost, error) {
	var page Paginated[Outpost]
	if err := c.do(ctx, http.MethodGet, "outposts/instances/", nil, nil, &page); err != nil {
		return nil, err
	}
	return page.Results, nil
}

// outpostsForRefresh is Outposts without each outpost's providers and
// providers_obj (left nil): a refresh reads neither, and with 1,000
// providers they are most of a 480 KB response, decoded for nothing.
// The request is the same.
func (c *Client) outpostsForRefresh(ctx context.Context) ([]Outpost, error) {
	var page Paginated[outpostSkippingProviders]
	if err := c.do(ctx, http.MethodGet, "outposts/instances/", nil, nil, &page); err != nil {
		return nil, err
	}
	outs := make([]Outpost, len(page.Results))
	for i, o := range page.Results {
		outs[i] = o.Outpost
	}
	return outs, nil
}

// outpostSkippingProviders decodes an Outpost but skips the values of
// providers and providers_obj: these fields are shallower than Outpost's
// own, so they take the names.
type outpostSkippingProviders struct {
	Outpost
	Providers    skippedJSON `json:"providers"`
	ProvidersObj skippedJSON `json:"providers_obj"`
}

// skippedJSON accepts any JSON value and keeps nothing of it.
type skippedJSON struct{}

func (*skippedJSON) UnmarshalJSON([]byte) error { return nil }

// RootConfig is GET /root/config/.
func (c *Client) RootConfig(ctx context.Context) (RootConfig, error) {
	var rc RootConfig
	err := c.do(ctx, http.MethodGet, "root/config/", nil, nil, &rc)
	return rc, err
}

// ProxyProviders fetches every page of GET /outposts/proxy/, as the
// reference does: page 1, then while pagination.next > 0 (spec §3.1). A core
// whose pagination does not move forward, or that announces more than
// maxProviderPages pages, is an error rather than an endless loop.
//
// Once page 1 has said how many pages there are (total_pages, with next 2),
// the following pages are fetched ahead, providerPageFetchers at a time,
// with the same requests the one-by-one walk makes; the walk then takes
// them in order, so the result, and the error when a page fails, are the
// walk's. Should a page's next not be the page after it (the list changed
// between requests), the walk goes on one page at a time from there.
func (c *Client) ProxyProviders(ctx context.Context) ([]ProxyOutpostConfig, error) {
	ctx, cancel := context.WithCancel(ctx)
	var ahead *pagesAhead
	defer func() {
		cancel()
		if ahead != nil {
			ahead.wg.Wait()
		}
	}()
	var all []ProxyOutpostConfig
	for page := 1; ; {
		var p Paginated[ProxyOutpostConfig]
		var err error
		fetched := false
		if ahead != nil {
			p, fetched, err = ahead.take(page)
		}
		if !fetched {
			p, err = c.providersPage(ctx, page)
		}
		if err != nil {
			return nil, err
		}
		all = append(all, p.Results...)
		next := p.Pagination.Next
		if next <= 0 {
			return all, nil
		}
		if next <= page {
			return nil, fmt.Errorf("GET %s: page %d names next page %d: pagination does not move forward", c.apiURL("outposts/proxy/", nil).Path, page, next)
		}
		if next > maxProviderPages {
			return nil, fmt.Errorf("GET %s: more than %d pages of providers", c.apiURL("outposts/proxy/", nil).Path, maxProviderPages)
		}
		// Two pages or more to go: fetch them ahead.
		if ahead == nil && page == 1 && next == 2 && p.Pagination.TotalPages > next {
			ahead = c.fetchPagesAhead(ctx, next, min(p.Pagination.TotalPages, maxProviderPages))
		}
		page = next
	}
}

// providersPage is one page of GET /outposts/proxy/.
func (c *Client) providersPage(ctx context.Context, page int) (Paginated[ProxyOutpostConfig], error) {
	q := url.Values{"page": {strconv.Itoa(page)}, "page_size": {strconv.Itoa(providersPageSize)}}
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, "outposts/proxy/", q, nil, &raw); err != nil {
		return Paginated[ProxyOutpostConfig]{}, err
	}
	p, err := decodeProvidersPage(raw)
	if err != nil {
		return p, fmt.Errorf("GET %s page %d: decoding response: %v (body starts %q)", c.apiURL("outposts/proxy/", nil).Path, page, err, excerpt(raw, c.token))
	}
	return p, nil
}

// providerPageFetchers bounds the provider pages fetched at once.
const providerPageFetchers = 4

// pagesAhead fetches pages first.. of the provider list in page order,
// providerPageFetchers at a time. A page that fails stops the pages after
// it from being asked for.
type pagesAhead struct {
	first int
	pages []*pageAhead // page first+i
	mu    sync.Mutex
	queue int // index in pages of the next page to start
	wg    sync.WaitGroup
}

type pageAhead struct {
	done    chan struct{} // closed once the fields below are final
	fetched bool          // false: never asked for (a page before it failed)
	p       Paginated[ProxyOutpostConfig]
	err     error
}

func (c *Client) fetchPagesAhead(ctx context.Context, first, last int) *pagesAhead {
	a := &pagesAhead{first: first, pages: make([]*pageAhead, last-first+1)}
	for i := range a.pages {
		a.pages[i] = &pageAhead{done: make(chan struct{})}
	}
	for range min(providerPageFetchers, len(a.pages)) {
		a.wg.Go(func() {
			for {
				page, pa := a.start()
				if pa == nil {
					return
				}
				pa.p, pa.err = c.providersPage(ctx, page)
				pa.fetched = true
				if pa.err != nil {
					a.stop()
				}
				close(pa.done)
			}
		})
	}
	return a
}

// start claims the next page to fetch (nil when there is none).
func (a *pagesAhead) start() (int, *pageAhead) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.queue >= len(a.pages) {
		return 0, nil
	}
	i := a.queue
	a.queue++
	return a.first + i, a.pages[i]
}

// stop starts no more pages; those not started are done, unfetched.
func (a *pagesAhead) stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, pa := range a.pages[a.queue:] {
		close(pa.done)
	}
	a.queue = len(a.pages)
}

// take waits for page; fetched is false for a page outside the range or
// not asked for, which the caller then fetches itself.
func (a *pagesAhead) take(page int) (p Paginated[ProxyOutpostConfig], fetched bool, err error) {
	i := page - a.first
	if i < 0 || i >= len(a.pages) {
		return p, false, nil
	}
	pa := a.pages[i]
	// The request honours the context and the client's timeout.
	<-pa.done
	return pa.p, pa.fetched, pa.err
}

// certPath checks the keypair id is a UUID before it goes into a path.
func certPath(id, suffix string) (string, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return "", fmt.Errorf("certificate %q is not a UUID", id)
	}
	return "crypto/certificatekeypairs/" + u.String() + "/" + suffix, nil
}

// CertificateKeyPair is GET /crypto/certificatekeypairs/<uuid>/; the outpost
// reads its fingerprint to decide whether to download the PEMs again.
func (c *Client) CertificateKeyPair(ctx context.Context, id string) (CertificateKeyPair, error) {
	var kp CertificateKeyPair
	p, err := certPath(id, "")
	if err != nil {
		return kp, err
	}
	err = c.do(ctx, http.MethodGet, p, nil, nil, &kp)
	return kp, err
}

// CertificatePEM is the keypair's certificate chain (view_certificate/).
func (c *Client) CertificatePEM(ctx context.Context, id string) (string, error) {
	return c.certData(ctx, id, "view_certificate/")
}

// PrivateKeyPEM is the keypair's private key (view_private_key/); "" when
// the keypair has none.
func (c *Client) PrivateKeyPEM(ctx context.Context, id string) (string, error) {
	return c.certData(ctx, id, "view_private_key/")
}

func (c *Client) certData(ctx context.Context, id, suffix string) (string, error) {
	p, err := certPath(id, suffix)
	if err != nil {
		return "", err
	}
	var d CertificateData
	err = c.do(ctx, http.MethodGet, p, nil, nil, &d)
	return d.Data, err
}

// PostEvent records an event on the core (POST /events/events/), e.g. a
// forward-auth configuration_error.
func (c *Client) PostEvent(ctx context.Context, ev Event) error {
	if ev.Context == nil {
		ev.Context = map[string]any{}
	}
	return c.do(ctx, http.MethodPost, "events/events/", nil, ev, nil)
}
