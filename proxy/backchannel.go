package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// OpenID Connect Back-Channel Logout 1.0, for standalone providers: the
// identity provider POSTs a signed logout token and the outpost ends the
// matching sessions of this provider, on every replica sharing the store.
const (
	pathBackchannelLogout  = reservedPrefix + "/backchannel-logout"
	backchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"
	// logoutTokenMaxAge: an older logout token (by iat) is refused, so the
	// replay guard only needs to remember jtis this long.
	logoutTokenMaxAge = 5 * time.Minute
	logoutClockSkew   = time.Minute
	maxLogoutBody     = 64 << 10
)

// DefaultBackchannelLogoutsPerMinute is each client IP's budget of
// requests to the back-channel logout endpoint, refused ones included
// (also the burst): an identity provider posts one per ended session, a
// prober posting forged tokens is cut off with 429.
const DefaultBackchannelLogoutsPerMinute = 30

// logoutClaims are the claims a logout token is checked for beyond what the
// ID token verifier checks (signature, iss, aud, exp).
type logoutClaims struct {
	Subject string                     `json:"sub"`
	SID     string                     `json:"sid"`
	JTI     string                     `json:"jti"`
	IssAt   *json.Number               `json:"iat"`
	Events  map[string]json.RawMessage `json:"events"`
	Nonce   *json.RawMessage           `json:"nonce"`
	Issuer  string                     `json:"iss"`
}

// errLogoutUnavailable: the store or the identity provider could not
// answer; answered with 503 so the provider retries.
var errLogoutUnavailable = errors.New("unavailable")

func (a *application) backchannelLogout(w http.ResponseWriter, r *http.Request) {
	if a.provider.Issuer == "" {
		// Core providers hear of ended sessions over the websocket.
		logoutAnswer(w, http.StatusNotFound, "not_supported", "back-channel logout is for standalone providers; the core ends sessions over the outpost's websocket")
		return
	}
	if ip := originOf(r).ClientIP; !a.logouts.spend(ip) {
		wait := a.logouts.retryAfter(ip)
		a.log.Warn("back-channel logout refused: too many requests from this address", "provider", a.provider.Name,
			"client_ip", clientIPString(originOf(r)), "request_id", requestID(r), "retry_after", wait.Round(time.Second))
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		logoutAnswer(w, http.StatusTooManyRequests, "temporarily_unavailable", "too many back-channel logout requests from this address; retry later")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		logoutAnswer(w, http.StatusMethodNotAllowed, "invalid_request", "POST a logout_token form")
		return
	}
	if r.ContentLength > maxLogoutBody {
		// Refused unread: waiting for a body this size would only let a
		// client that never sends it hold the connection.
		logoutAnswer(w, http.StatusRequestEntityTooLarge, "invalid_request", "the body is larger than a logout token form")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLogoutBody)
	if err := r.ParseForm(); err != nil {
		a.log.Warn("back-channel logout refused", "provider", a.provider.Name, "reason", "unreadable form", "error", err)
		logoutAnswer(w, http.StatusBadRequest, "invalid_request", "the body is not a form")
		return
	}
	raw := r.PostForm.Get("logout_token")
	if raw == "" {
		a.log.Warn("back-channel logout refused", "provider", a.provider.Name, "reason", "no logout_token")
		logoutAnswer(w, http.StatusBadRequest, "invalid_request", "logout_token is missing")
		return
	}
	n, err := a.endByLogoutToken(r.Context(), raw)
	if errors.Is(err, errLogoutUnavailable) {
		a.log.Error("back-channel logout failed", "provider", a.provider.Name, "error", err)
		logoutAnswer(w, http.StatusServiceUnavailable, "temporarily_unavailable", "sessions cannot be ended right now; try again")
		return
	}
	if err != nil {
		a.log.Warn("back-channel logout refused", "provider", a.provider.Name, "reason", err.Error())
		logoutAnswer(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	a.log.Info("back-channel logout", "provider", a.provider.Name, "sessions_ended", n)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// endByLogoutToken verifies raw (Back-Channel Logout 1.0 §2.6) and ends
// the sessions it names, returning how many.
func (a *application) endByLogoutToken(ctx context.Context, raw string) (int, error) {
	eps, err := a.oidc.endpoints(ctx)
	if err != nil {
		return 0, fmt.Errorf("%w: identity provider unreachable: %v", errLogoutUnavailable, err)
	}
	// Signature with the provider's keys (asymmetric algorithms only), iss,
	// aud = client id, exp: as for an ID token.
	tok, err := eps.verifier.Verify(ctx, raw)
	if err != nil {
		return 0, fmt.Errorf("logout token: %v", err)
	}
	var c logoutClaims
	if err := tok.Claims(&c); err != nil {
		return 0, fmt.Errorf("logout token claims: %v", err)
	}
	if c.IssAt == nil {
		return 0, errors.New("logout token has no iat")
	}
	iat, err := c.IssAt.Float64()
	if err != nil {
		return 0, errors.New("logout token iat is not a number")
	}
	now := time.Now()
	issued := time.Unix(int64(iat), 0)
	if issued.Before(now.Add(-logoutTokenMaxAge)) || issued.After(now.Add(logoutClockSkew)) {
		return 0, errors.New("logout token iat is too old or in the future")
	}
	if ev, ok := c.Events[backchannelLogoutEvent]; !ok || !isJSONObject(ev) {
		return 0, errors.New("logout token events lack " + backchannelLogoutEvent)
	}
	if c.Nonce != nil {
		return 0, errors.New("logout token carries a nonce")
	}
	if c.SID == "" && c.Subject == "" {
		return 0, errors.New("logout token names neither sid nor sub")
	}
	if c.JTI == "" {
		return 0, errors.New("logout token has no jti")
	}
	sum := sha256.Sum256([]byte(c.Issuer + "\x00" + c.JTI))
	key := "logout-jti:" + hex.EncodeToString(sum[:])
	first, err := a.store.FirstUse(ctx, key, logoutTokenMaxAge+2*logoutClockSkew)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", errLogoutUnavailable, err)
	}
	if !first {
		return 0, errors.New("logout token replayed (jti seen before)")
	}
	var n int
	if c.SID != "" {
		n, err = a.store.DeleteBySIDFor(ctx, a.provider.ClientID, c.SID)
	} else {
		n, err = a.store.DeleteBySubFor(ctx, a.provider.ClientID, c.Subject)
	}
	if err != nil {
		// The identity provider is told to try again (503): the same
		// token must then not be taken for a replay.
		if ferr := a.store.Forget(ctx, key); ferr != nil {
			a.log.Error("back-channel logout: a retry of this token will be refused as a replay", "provider", a.provider.Name, "error", ferr)
		}
		return 0, fmt.Errorf("%w: %v", errLogoutUnavailable, err)
	}
	return n, nil
}

func isJSONObject(m json.RawMessage) bool {
	var v map[string]any
	return json.Unmarshal(m, &v) == nil && v != nil
}

func logoutAnswer(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": description})
}
