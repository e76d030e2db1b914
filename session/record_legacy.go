package session

import (
	"encoding/json"
	"time"
)

// decodeStoredSession reads a session as a shared store holds it (Redis's
// d field, PostgreSQL's data column): a record, or the JSON that versions
// before records wrote (legacySession), so that upgrading signs nobody
// out. Sessions saved from now on are records.
func decodeStoredSession(d string) (*Session, error) {
	if len(d) == 0 || d[0] != '{' {
		return decodeRecord(d)
	}
	var st legacySession
	if err := json.Unmarshal([]byte(d), &st); err != nil {
		return nil, err
	}
	return &Session{
		ID: st.ID, Provider: st.Provider, Claims: st.Claims, Sub: st.Sub, SID: st.SID,
		AccessToken: st.AccessToken, IDToken: st.IDToken, RefreshToken: st.RefreshToken,
		TokenExpiry: st.TokenExpiry, CreatedAt: st.CreatedAt, ExpiresAt: st.ExpiresAt,
	}, nil
}

// legacySession is the JSON of a session as earlier versions kept it.
type legacySession struct {
	ID           string         `json:"id"`
	Provider     string         `json:"provider"`
	Claims       map[string]any `json:"claims"`
	Sub          string         `json:"sub,omitempty"`
	SID          string         `json:"sid,omitempty"`
	AccessToken  string         `json:"access_token,omitempty"`
	IDToken      string         `json:"id_token,omitempty"`
	RefreshToken string         `json:"refresh_token,omitempty"`
	TokenExpiry  time.Time      `json:"token_expiry"`
	CreatedAt    time.Time      `json:"created_at"`
	ExpiresAt    time.Time      `json:"expires_at"`
}
