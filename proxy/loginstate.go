package proxy

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// loginWindow is how long a person has between /start and the callback.
const loginWindow = 10 * time.Minute

// loginState is the `state` parameter: a compact JWT, HS256 with a key
// derived from the provider's cookie_secret (spec §7.3). Sid binds it to the login attempt
// cookie of the browser that started the login; unlike the reference it
// expires.
type loginState struct {
	jwt.Claims
	SID      string `json:"sid"`
	State    string `json:"state"`
	Redirect string `json:"redirect"`
	// Retry marks a login restarted after a stale cookie, so a browser that
	// keeps no cookies gets an explanation instead of a loop.
	Retry bool `json:"retry,omitempty"`
	// StepUp is what a step-up sign-in asked (stepup.go); nil for any
	// other sign-in.
	StepUp *stepUpAsk `json:"step_up,omitempty"`
}

func stateIssuer(clientID string) string { return "goauthentik.io/outpost/" + clientID }

// stateKey derives the state's HMAC key: cookie_secret may be shorter than
// the 32 bytes HS256 needs, and the state is read only by the outpost.
func stateKey(cookieSecret string) []byte {
	k, _ := hkdf.Key(sha256.New, []byte(cookieSecret), nil, "outpost login state", 32)
	return k
}

func signState(cookieSecret, clientID string, st loginState) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: stateKey(cookieSecret)}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	now := time.Now()
	st.Issuer = stateIssuer(clientID)
	st.IssuedAt = jwt.NewNumericDate(now)
	st.Expiry = jwt.NewNumericDate(now.Add(loginWindow))
	st.State = randomToken(32)
	return jwt.Signed(signer).Claims(st).Serialize()
}

var errBadState = errors.New("invalid login state")

func parseState(cookieSecret, clientID, raw string) (*loginState, error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadState, err)
	}
	var st loginState
	if err := tok.Claims(stateKey(cookieSecret), &st); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadState, err)
	}
	if err := st.Validate(jwt.Expected{Issuer: stateIssuer(clientID), Time: time.Now()}); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadState, err)
	}
	if st.SID == "" || st.Expiry == nil {
		return nil, fmt.Errorf("%w: incomplete", errBadState)
	}
	return &st, nil
}

// loginAttempt lives in an encrypted cookie from /start to the callback: it
// carries the PKCE verifier and nonce, which must never travel in the URL.
type loginAttempt struct {
	ID       string `json:"id"`
	Verifier string `json:"v"`
	Nonce    string `json:"n"`
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
