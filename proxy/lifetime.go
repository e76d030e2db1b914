package proxy

import (
	"strconv"
	"time"

	"github.com/outpost-dev/outpost/outpostapi"
	"github.com/outpost-dev/outpost/session"
	"golang.org/x/oauth2"
)

// How long a session lasts (docs/sessions.md, "How long a session lasts").
// A session outlives its access token when it holds a refresh token: the
// first request after the token's expiry refreshes it. It ends at its
// deadline (sign-in + the provider's session lifetime) however often it
// was refreshed, when its refresh token runs out, or when a refresh is
// refused.
const (
	// defaultSessionLifetime applies to a core's provider that sets no
	// access_token_validity (the core sends null).
	defaultSessionLifetime = 24 * time.Hour
	// standaloneSessionCap is a standalone session's lifetime when the
	// YAML sets no session_lifetime: issuers rarely say how long their
	// refresh tokens last, and a stolen cookie must not last for ever.
	standaloneSessionCap = 30 * 24 * time.Hour
)

// sessionLifetime is the longest a session of p lasts from sign-in. A
// core's provider: access_token_validity + 1 s, as authentik's outpost
// keeps it (spec §14.2), so the cookie's Max-Age stays what it was.
func sessionLifetime(p *outpostapi.Provider) time.Duration {
	if p.Issuer == "" {
		if v := p.AccessTokenValidity; v != nil && *v > 0 {
			return time.Duration(*v*float64(time.Second)) + time.Second
		}
		return defaultSessionLifetime
	}
	if p.SessionLifetime > 0 {
		return p.SessionLifetime
	}
	return standaloneSessionCap
}

// deadline is when s ends at the latest, refreshed or not.
func (a *application) deadline(s *session.Session) time.Time {
	return s.CreatedAt.Add(a.lifetime)
}

// sessionEnd is s.ExpiresAt for s as tok (a sign-in's or a refresh's token
// response, received at now) left it: without a refresh token the session
// ends with its token; with one it lasts while the refresh token does (as
// the issuer says in refresh_expires_in, else until the deadline), and
// never past the deadline.
func (a *application) sessionEnd(s *session.Session, tok *oauth2.Token, now time.Time) time.Time {
	end := a.deadline(s)
	switch {
	case s.RefreshToken == "":
		end = earlier(end, s.TokenExpiry)
	default:
		if rt, ok := refreshTokenExpiry(tok, now); ok {
			if rt.Before(s.TokenExpiry) {
				rt = s.TokenExpiry // the token it already has still holds
			}
			end = earlier(end, rt)
		}
	}
	return end
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// refreshTokenExpiry reads refresh_expires_in (seconds; Keycloak and
// others send it, renewed at each refresh). 0 or absent says nothing: an
// offline token in Keycloak, or an issuer that does not tell.
func refreshTokenExpiry(tok *oauth2.Token, now time.Time) (time.Time, bool) {
	var secs float64
	switch v := tok.Extra("refresh_expires_in").(type) {
	case float64:
		secs = v
	case string:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return time.Time{}, false
		}
		secs = f
	default:
		return time.Time{}, false
	}
	if secs <= 0 || secs > float64(100*365*24*3600) {
		return time.Time{}, false
	}
	return now.Add(time.Duration(secs * float64(time.Second))), true
}
