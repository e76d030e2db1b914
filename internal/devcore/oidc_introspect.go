package devcore

import (
	"maps"
	"net/http"
	"slices"
	"time"
)

// handleIntrospect is POST /application/o/introspect/ (RFC 7662), what the
// outpost uses for bearer tokens (spec §10). The client authenticates with
// its id and secret; a token that is live and was issued to that client is
// active, with its ID-token claims at the top level plus scope and
// client_id, as authentik answers. Anything else is {"active": false}.
func (p *identityProvider) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, "invalid_request", "The request body could not be read.")
		return
	}
	ca, err := clientCredentials(r)
	if err != nil {
		writeOAuthError(w, "invalid_request", err.Error())
		return
	}
	pc := authenticateClient(p.s.config(), ca)
	if pc == nil {
		writeOAuthError(w, "invalid_client", "Client authentication failed.")
		return
	}
	raw := r.PostForm.Get("token")
	var resp map[string]any
	p.locked(func(st *idpState, now time.Time) {
		t := st.liveToken(raw, now)
		if t == nil || t.clientID != pc.ClientID {
			return
		}
		resp = maps.Clone(t.claims)
		resp["scope"] = joinScope(t.scope)
	})
	if resp == nil {
		writeJSON(w, http.StatusOK, map[string]bool{"active": false})
		return
	}
	resp["active"] = true
	resp["client_id"] = pc.ClientID
	writeJSON(w, http.StatusOK, resp)
}

// handleUserinfo is GET/POST /application/o/userinfo/: the claims of a live
// access token's user and scopes, evaluated now (as authentik does), plus
// sub and the nonce. The token comes as a Bearer header or, on POST, the
// access_token form field (RFC 6750 §2.1, §2.2).
func (p *identityProvider) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	raw, ok := bearerToken(r.Header.Get("Authorization"))
	if !ok && r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err == nil && len(r.PostForm["access_token"]) == 1 {
			raw, ok = r.PostForm.Get("access_token"), true
		}
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="devcore"`)
		writeJSON(w, http.StatusUnauthorized, oauthError{Error: "invalid_request", ErrorDescription: "An access token is required."})
		return
	}
	var (
		username, sub, nonce string
		scope                []string
		clientID             string
	)
	p.locked(func(st *idpState, now time.Time) {
		t := st.liveToken(raw, now)
		if t == nil || t.kind != kindAccess {
			return
		}
		username, nonce, clientID, scope = t.grant.username, t.grant.nonce, t.clientID, t.scope
		sub, _ = t.claims["sub"].(string)
	})
	cfg := p.s.config()
	user := userByName(cfg, username)
	if username == "" || user == nil || providerByClientID(cfg, clientID) == nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="devcore", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, oauthError{Error: "invalid_token", ErrorDescription: "The access token is not valid."})
		return
	}
	if !slices.Contains(scope, "openid") {
		w.Header().Set("WWW-Authenticate", `Bearer realm="devcore", error="insufficient_scope", scope="openid"`)
		writeJSON(w, http.StatusForbidden, oauthError{Error: "insufficient_scope", ErrorDescription: "The openid scope is required."})
		return
	}
	claims := scopeClaims(cfg, user, scope)
	claims["sub"] = sub
	if nonce != "" {
		claims["nonce"] = nonce
	}
	writeJSON(w, http.StatusOK, claims)
}
