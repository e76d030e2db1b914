package session

import "context"

// ScopedDeleter ends the sessions of a core sid or a subject within one
// provider only; a provider of "" matches nothing. A standalone provider's
// back-channel logout uses it: one identity provider's word must not end
// sessions that another provider's issuer vouched for.
type ScopedDeleter interface {
	DeleteBySIDFor(ctx context.Context, provider, sid string) (int, error)
	DeleteBySubFor(ctx context.Context, provider, sub string) (int, error)
}
