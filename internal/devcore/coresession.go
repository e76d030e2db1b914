package devcore

import (
	"net/http"
	"strings"
	"time"
)

// coreSessionCookie holds the browser's core (SSO) session key, as
// authentik's session cookie does.
const coreSessionCookie = "authentik_session"

// coreSession is a signed-in browser at the devcore. The cookie carries a
// random key; the devcore keeps only its sid, the lowercase hex SHA-256 of
// the key, which is also what SESSION_END and the tokens' sid claim carry
// (authentik: hash_session_key).
type coreSession struct {
	sid      string
	username string
	authTime time.Time
	expires  time.Time
}

// sessionSID is the sid of a core session key.
func sessionSID(key string) string { return sha256Hex(key) }

// currentSession is the live core session of the request's cookie, or nil.
// A session whose user left the configuration ends here.
func (p *identityProvider) currentSession(r *http.Request, cfg *Config) *coreSession {
	c, err := r.Cookie(coreSessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	sid := sessionSID(c.Value)
	var out *coreSession
	p.locked(func(st *idpState, now time.Time) {
		s := st.sessions[sid]
		if s == nil {
			return
		}
		if !now.Before(s.expires) {
			p.endSessionLocked(sid)
			return
		}
		if userByName(cfg, s.username) == nil {
			p.endSessionLocked(sid)
			return
		}
		cp := *s
		out = &cp
	})
	return out
}

// startSession creates a core session for username and sets its cookie.
// A session the browser already had is ended: a login replaces it. The
// same user signing in again in the same browser (prompt=login, max_age)
// re-authenticates that session instead: its sid stays, its auth_time is
// now, so what the outpost holds under that sid lives on with a fresh
// sign-in and no SESSION_END.
func (p *identityProvider) startSession(w http.ResponseWriter, r *http.Request, username string) (*coreSession, error) {
	key := randomHex(32)
	sid := sessionSID(key)
	var old string
	if c, err := r.Cookie(coreSessionCookie); err == nil && c.Value != "" {
		old = sessionSID(c.Value)
	}
	var out *coreSession
	var full bool
	p.locked(func(st *idpState, now time.Time) {
		if s := st.sessions[old]; old != "" && s != nil && s.username == username && now.Before(s.expires) {
			s.authTime = now
			cp := *s
			out = &cp
			return
		}
		if old != "" {
			if _, ok := st.sessions[old]; ok {
				p.endSessionLocked(old)
			}
		}
		if !p.roomLocked(now, func() int { return len(st.sessions) }, 1, maxCoreSessions) {
			full = true
			return
		}
		s := &coreSession{sid: sid, username: username, authTime: now, expires: now.Add(coreSessionTTL)}
		st.sessions[sid] = s
		cp := *s
		out = &cp
	})
	if full {
		return nil, errFull
	}
	if out.sid != sid {
		return out, nil // re-authenticated: the cookie stays
	}
	http.SetCookie(w, &http.Cookie{
		Name:     coreSessionCookie,
		Value:    key,
		Path:     "/",
		HttpOnly: true,
		Secure:   isHTTPS(r),
		SameSite: http.SameSiteLaxMode,
	})
	return out, nil
}

// clearSessionCookie expires the core session cookie.
func clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name:     coreSessionCookie,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   isHTTPS(r),
		SameSite: http.SameSiteLaxMode,
	})
}

// isHTTPS reports whether the request reached the devcore over https, as
// requestBaseURL sees it.
func isHTTPS(r *http.Request) bool { return strings.HasPrefix(requestBaseURL(r), "https://") }

// endSessionLocked deletes a core session, revokes what was issued under it
// and queues its SESSION_END. Called with mu held.
func (p *identityProvider) endSessionLocked(sid string) bool {
	if _, ok := p.st.sessions[sid]; !ok {
		return false
	}
	delete(p.st.sessions, sid)
	p.st.revokeSessionLocked(sid)
	p.ended = append(p.ended, sid)
	return true
}

// endSession ends the core session sid, if it exists.
func (p *identityProvider) endSession(sid string) bool {
	var ok bool
	p.locked(func(*idpState, time.Time) { ok = p.endSessionLocked(sid) })
	return ok
}

// endUserSessions ends every core session of username and returns how many.
func (p *identityProvider) endUserSessions(username string) int {
	n := 0
	p.locked(func(st *idpState, _ time.Time) {
		for sid, s := range st.sessions {
			if s.username == username && p.endSessionLocked(sid) {
				n++
			}
		}
	})
	return n
}

// handleAdminEndSessions is POST /api/devcore/users/<username>/end-sessions:
// ends all core sessions of the user (SESSION_END for each), as an admin
// revoking sessions in authentik would. It is routed through the devcore's
// admin guard (Bearer admin_token, or any outpost token when none is set).
func (p *identityProvider) handleAdminEndSessions(w http.ResponseWriter, r *http.Request) {
	n := p.endUserSessions(r.PathValue("username"))
	p.s.log.Info("admin ended a user's core sessions", "username", r.PathValue("username"), "ended", n)
	writeJSON(w, http.StatusOK, map[string]int{"ended": n})
}

// bearerToken extracts the token of an "Authorization: Bearer <token>"
// value; the scheme is case-insensitive (RFC 9110 §11.1).
func bearerToken(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	if tok == "" || strings.ContainsAny(tok, " \t") {
		return "", false
	}
	return tok, true
}
