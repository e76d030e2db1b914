// Package session holds signed-in sessions: the model, the Store interface
// with its in-memory implementation, and the cookie codec. Every Store passes
// the conformance suite in package sessiontest.
package session

import (
	"context"
	"errors"
	"time"
)

// Session is one person signed in to one provider.
type Session struct {
	ID string
	// Provider is the provider's client ID: a cookie for one provider never
	// yields a session of another.
	Provider string
	// Claims are the verified token claims (spec §6), as decoded from JSON.
	Claims map[string]any
	// Sub and SID are copied out of Claims for the indexes: sign-out ends
	// every session of a sub, SESSION_END every session of a core sid.
	Sub string
	SID string

	AccessToken  string // the raw token passed as X-authentik-jwt
	IDToken      string // for id_token_hint at sign-out
	RefreshToken string
	// TokenExpiry is when AccessToken expires; refresh happens before it.
	TokenExpiry time.Time

	CreatedAt time.Time
	// ExpiresAt is when the session itself ends; stores drop it then.
	ExpiresAt time.Time
}

// Expired reports whether the session has ended at now.
func (s *Session) Expired(now time.Time) bool { return !now.Before(s.ExpiresAt) }

// ErrNotFound is returned for a session that does not exist or has expired.
var ErrNotFound = errors.New("session not found")

// Store keeps sessions. Implementations are safe for concurrent use. Errors
// other than ErrNotFound mean the store could not answer; callers must deny.
// Every store also serialises refreshes (Locker), ends one provider's
// sessions (ScopedDeleter), tells of revocations (RevocationWatcher) and
// remembers one-time values (ReplayGuard), each across every process
// sharing it.
type Store interface {
	Locker
	ScopedDeleter
	RevocationWatcher
	ReplayGuard

	// Get returns the session, or ErrNotFound when it is absent or expired.
	// The returned session is read-only: it may be shared with the store
	// and with other requests (a lookup per request must not copy the
	// claims). A caller that wants to change it changes a Clone.
	Get(ctx context.Context, id string) (*Session, error)
	// Save creates or replaces the session; it expires at s.ExpiresAt. The
	// store keeps a copy: the caller's later changes to s never reach it.
	Save(ctx context.Context, s *Session) error
	// SaveIfExists is Save only if the session is still stored (not
	// deleted, not expired), checked and written atomically; saved is
	// false when it was gone, and then nothing is written. A token refresh
	// saves with it, so that a deletion that lands while the identity
	// provider is being asked always wins over the refreshed tokens.
	SaveIfExists(ctx context.Context, s *Session) (saved bool, err error)
	// Delete removes one session; deleting a missing one is not an error.
	Delete(ctx context.Context, id string) error
	// DeleteBySID removes every session carrying the core session id and
	// returns how many it removed.
	DeleteBySID(ctx context.Context, sid string) (int, error)
	// DeleteBySub removes every session of the subject, across providers.
	DeleteBySub(ctx context.Context, sub string) (int, error)
	// Len is the number of live sessions (for the active-sessions metric).
	Len(ctx context.Context) (int, error)
	// Close stops background work.
	Close() error
}

// Clone copies s deeply enough that changes to the copy never reach s.
func (s *Session) Clone() *Session {
	c := *s
	c.Claims = cloneMap(s.Claims)
	return &c
}

func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return cloneMap(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = cloneValue(e)
		}
		return out
	case []string:
		return append([]string(nil), t...)
	}
	return v
}
