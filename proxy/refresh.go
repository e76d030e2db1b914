package proxy

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/outpost-dev/outpost/session"
	"golang.org/x/oauth2"
)

// refreshAhead is how long before its token expires a session is refreshed,
// at most: for short-lived tokens the window is a quarter of their lifetime,
// so a 30 s token is not refreshed on every request.
const refreshAhead = time.Minute

// refreshDue reports whether s should be refreshed at now.
func refreshDue(s *session.Session, now time.Time) bool {
	if s.RefreshToken == "" {
		return false
	}
	window := refreshAhead
	if iat, ok := s.Claims["iat"].(float64); ok {
		if life := s.TokenExpiry.Sub(time.Unix(int64(iat), 0)); life > 0 && life/4 < window {
			window = life / 4
		}
	}
	return s.TokenExpiry.Sub(now) < window
}

// refreshLockTTL bounds how long one refresh holds the session's lock (the
// token call itself is bounded by backchannelTimeout), and how long others
// wait for it.
const refreshLockTTL = 2 * backchannelTimeout

// errRefreshUnavailable: the session's token has expired and its refresh
// failed for a reason that may pass; the session is kept for the retry.
var errRefreshUnavailable = errors.New("the identity provider could not refresh the session's expired token; retrying later")

// errSessionGone: the session was revoked while its refresh was waiting
// or in flight.
var errSessionGone = errors.New("session ended while refreshing")

// refusedError is the identity provider's refusal of the refresh token: an
// OAuth error response (RFC 6749 §5.2, such as invalid_grant), or tokens
// for another subject. Unlike a network failure or a 5xx it will not pass
// by retrying, so the session ends.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// oauthRefusal reports whether err from the token endpoint is an OAuth
// error response: a 4xx carrying an "error" code.
func oauthRefusal(err error) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode != "" && re.Response != nil &&
		re.Response.StatusCode >= 400 && re.Response.StatusCode < 500
}

// storeError is a session store failure during a refresh, as opposed to the
// identity provider refusing the refresh token.
type storeError struct{ err error }

func (e *storeError) Error() string { return e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

// refresh redeems the session's refresh token once however many requests
// see the expiring token together: in this process they share one result,
// and across replicas the store's lock (Store.Lock) lets one redeem
// while the others wait and then re-read the session it saved.
func (a *application) refresh(w http.ResponseWriter, r *http.Request, s *session.Session) (*session.Session, error) {
	v, err, _ := a.refreshes.Do(s.ID, func() (any, error) {
		ctx := context.WithoutCancel(r.Context())
		lctx, cancel := context.WithTimeout(ctx, refreshLockTTL)
		unlock, err := a.store.Lock(lctx, "refresh:"+s.ID, refreshLockTTL)
		cancel()
		if err != nil {
			return nil, &storeError{err}
		}
		defer unlock()
		// Another request or replica may have refreshed it a moment ago, or
		// ended it: read what the store holds now, past any cache.
		cur, err := a.store.Get(session.WithoutCache(ctx), s.ID)
		if errors.Is(err, session.ErrNotFound) {
			return nil, errSessionGone
		}
		if err != nil {
			return nil, &storeError{err}
		}
		if !refreshDue(cur, time.Now()) {
			return cur, nil
		}
		fresh, err := a.redeemRefreshToken(ctx, cur)
		a.metrics.TokenRefresh(err == nil)
		var refused *refusedError
		switch {
		case err == nil, errors.Is(err, errSessionGone):
			a.backoff.forget(s.ID)
		case errors.As(err, &refused):
			a.backoff.forget(s.ID)
			// Through the store, so that every replica drops it and closes
			// its websockets.
			if derr := a.store.Delete(ctx, cur.ID); derr != nil {
				a.log.Warn("could not end a session whose refresh was refused", "provider", a.provider.Name, "sub", cur.Sub, "error", derr)
			}
		default:
			var se *storeError
			if !errors.As(err, &se) {
				wait := a.backoff.failed(s.ID, time.Now())
				a.log.Warn("token refresh failed; retrying later", "provider", a.provider.Name, "sub", cur.Sub, "retry_in", wait, "error", err)
			}
		}
		return fresh, err
	})
	if err != nil {
		var se *storeError
		var refused *refusedError
		switch {
		case errors.Is(err, errSessionGone):
			http.SetCookie(w, a.sessionCookies.Expire())
			return nil, nil
		case errors.As(err, &refused):
			a.log.Info("the identity provider refused the refresh token; session ended", "provider", a.provider.Name, "sub", s.Sub, "error", err)
			http.SetCookie(w, a.sessionCookies.Expire())
			return nil, nil
		case errors.As(err, &se):
			if time.Now().Before(s.TokenExpiry) {
				return s, nil // read a moment ago and still valid
			}
			return nil, se.err
		}
		if time.Now().Before(s.TokenExpiry) {
			return s, nil // still valid; tried again after the backoff
		}
		// Expired and not refreshed: refused for now, kept for the retry
		// after the backoff, so an identity provider that blinks does not
		// end every session idle past its short token. A failure that
		// lasts ends it: the person can then at least sign in again.
		if time.Since(s.TokenExpiry) < expiredRefreshGrace {
			return nil, errRefreshUnavailable
		}
		a.backoff.forget(s.ID)
		_ = a.store.Delete(r.Context(), s.ID)
		http.SetCookie(w, a.sessionCookies.Expire())
		return nil, nil
	}
	fresh := v.(*session.Session)
	if err := a.setSessionCookie(w, fresh); err != nil {
		return nil, err
	}
	return fresh, nil
}

func (a *application) redeemRefreshToken(ctx context.Context, s *session.Session) (*session.Session, error) {
	eps, err := a.oidc.endpoints(ctx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(a.oidc.clientContext(ctx), backchannelTimeout)
	defer cancel()
	tok, err := eps.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: s.RefreshToken, Expiry: time.Unix(1, 0)}).Token()
	if err != nil {
		if oauthRefusal(err) {
			return nil, &refusedError{err}
		}
		return nil, err
	}
	fresh := *s
	if _, hasID := tok.Extra("id_token").(string); hasID || eps.accessTokenClaims {
		v, err := a.verifyTokens(ctx, eps, tok, "")
		if err != nil {
			return nil, err
		}
		if v.claims["sub"] != s.Claims["sub"] {
			return nil, &refusedError{errors.New("refreshed token names another subject")}
		}
		v.applyTo(&fresh)
		keepSignIn(fresh.Claims, s.Claims)
		if v.idToken == "" {
			fresh.IDToken = s.IDToken
		}
	} else {
		// An issuer that returns only an opaque access token on refresh:
		// identity stays as verified at login, the lifetime moves on.
		fresh.TokenExpiry = tok.Expiry
	}
	if tok.RefreshToken != "" {
		fresh.RefreshToken = tok.RefreshToken
	}
	if fresh.TokenExpiry.IsZero() {
		return nil, errors.New("refreshed token has no expiry")
	}
	// The session moves on with its refresh token, up to its deadline.
	fresh.ExpiresAt = a.sessionEnd(&fresh, tok, time.Now())
	// Only over the session as it still is: a sign-out, SESSION_END or
	// back-channel logout that landed while the provider was answering
	// wins, and the new tokens are dropped.
	saved, err := a.store.SaveIfExists(ctx, &fresh)
	if err != nil {
		return nil, &storeError{err}
	}
	if !saved {
		return nil, errSessionGone
	}
	return &fresh, nil
}
