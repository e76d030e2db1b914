package testissuer

import (
	"net/http"
	"time"
)

// Options shape an issuer's tokens.
type Options struct {
	// TokenLife is how long ID and access tokens live (default an hour).
	TokenLife time.Duration
	// RefreshTokens makes every token response carry a refresh token.
	// Each one is redeemable once: a refresh answers with a new one, as
	// rotating issuers do, so a second redemption is refused.
	RefreshTokens bool
	// RefreshExpiresIn, when set, is sent as refresh_expires_in (as
	// Keycloak does) and enforced.
	RefreshExpiresIn time.Duration
	// SignInClaims puts auth_time (the code's redemption, standing in for
	// the sign-in) and acr "pwd" in the ID token of a sign-in, and leaves
	// them out of refreshed ones, as many issuers do.
	SignInClaims bool
	// SignedInAt, with SignInClaims, is the auth_time every sign-in
	// reports instead: an issuer that ignores max_age and prompt=login
	// and answers from an old session of its own.
	SignedInAt time.Time
}

type refreshState struct {
	live    map[string]refreshGrant
	grants  int  // refresh grants answered with tokens
	refuse  bool // every refresh is refused with invalid_grant
	down    bool // every refresh gets a 503, as from an issuer restarting
	refused int
	// unavailable counts refreshes answered 503 while down.
	unavailable int
}

type refreshGrant struct {
	user, clientID string
	expires        time.Time // zero: no limit
}

func (is *Issuer) newRefreshToken(user, clientID string) string {
	rt := randomString()
	g := refreshGrant{user: user, clientID: clientID}
	if is.opts.RefreshExpiresIn > 0 {
		g.expires = time.Now().Add(is.opts.RefreshExpiresIn)
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.refresh.live == nil {
		is.refresh.live = map[string]refreshGrant{}
	}
	is.refresh.live[rt] = g
	return rt
}

// refreshGrant answers grant_type=refresh_token (RFC 6749 §6).
func (is *Issuer) refreshGrant(w http.ResponseWriter, r *http.Request) {
	clientID, _, ok := r.BasicAuth()
	if !ok {
		clientID = r.PostForm.Get("client_id")
	}
	rt := r.PostForm.Get("refresh_token")
	is.mu.Lock()
	if is.refresh.down {
		is.refresh.unavailable++
		is.mu.Unlock()
		writeJSON(w, 503, map[string]string{"error": "temporarily_unavailable"})
		return
	}
	g, found := is.refresh.live[rt]
	delete(is.refresh.live, rt)
	expired := found && !g.expires.IsZero() && !time.Now().Before(g.expires)
	refuse := is.refresh.refuse || !found || expired || g.clientID != clientID
	if refuse {
		is.refresh.refused++
	} else {
		is.refresh.grants++
	}
	is.mu.Unlock()
	if refuse {
		writeJSON(w, 400, map[string]string{"error": "invalid_grant"})
		return
	}
	writeJSON(w, 200, is.tokenResponse(g.user, clientID, nil))
}

// RefreshGrants is how many refresh grants were answered with tokens.
func (is *Issuer) RefreshGrants() int {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.refresh.grants
}

// RefusedRefreshes is how many refresh grants were refused.
func (is *Issuer) RefusedRefreshes() int {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.refresh.refused
}

// RefuseRefresh makes every later refresh grant fail with invalid_grant,
// as when the person was disabled or their grant revoked.
func (is *Issuer) RefuseRefresh() {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.refresh.refuse = true
}

// SetRefreshDown makes refresh grants fail with a 503 (down) or work again,
// leaving refresh tokens as they were.
func (is *Issuer) SetRefreshDown(down bool) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.refresh.down = down
}

// UnavailableRefreshes is how many refresh grants got a 503.
func (is *Issuer) UnavailableRefreshes() int {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.refresh.unavailable
}
