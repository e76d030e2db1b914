package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// maxIssuerBody caps every body the outpost reads from an identity
// provider: discovery, JWKS, token, userinfo, introspection. go-oidc and
// x/oauth2 read whole bodies into memory, so without a cap an issuer (or
// whoever answers in its name) could make the outpost allocate without
// bound. Real documents are a few KB.
const maxIssuerBody = 1 << 20

// maxJWKSKeys bounds the keys a JWKS may hold. go-oidc tries every cached
// key on a token without a matching key id, so 10,000 keys made each forged
// token cost seconds of CPU. Issuers publish a handful.
const maxJWKSKeys = 100

// cappedTransport fails a response whose body is longer than max: early
// when Content-Length says so, else on the read that goes past it.
type cappedTransport struct {
	base http.RoundTripper
	max  int64
}

func (t cappedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	where := r.URL.Host + r.URL.Path
	if resp.ContentLength > t.max {
		_ = resp.Body.Close()
		return nil, fmt.Errorf("%s answered %d bytes, more than the %d accepted from an identity provider", where, resp.ContentLength, t.max)
	}
	resp.Body = &cappedBody{rc: resp.Body, left: t.max, max: t.max, where: where}
	return resp, nil
}

type cappedBody struct {
	rc    io.ReadCloser
	left  int64
	max   int64
	where string
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, b.tooLarge()
	}
	// One byte past the cap is enough to know.
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n + int(b.left), b.tooLarge()
	}
	return n, err
}

func (b *cappedBody) tooLarge() error {
	return fmt.Errorf("%s answered more than the %d bytes accepted from an identity provider", b.where, b.max)
}

func (b *cappedBody) Close() error { return b.rc.Close() }

// jwksBound refuses a JWKS with more than max keys before go-oidc parses
// the keys: the fetch fails, so tokens are refused until a sane JWKS is
// served.
type jwksBound struct {
	base http.RoundTripper
	max  int
}

func (t jwksBound) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the JWKS: %w", err)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("the JWKS at %s is not JSON: %w", r.URL.Host+r.URL.Path, err)
	}
	if len(set.Keys) > t.max {
		return nil, fmt.Errorf("the JWKS at %s has %d keys, more than the %d accepted", r.URL.Host+r.URL.Path, len(set.Keys), t.max)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}
