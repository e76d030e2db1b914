package session

import (
	"context"
	"time"
)

// KeyStore keeps small values written once and shared by every replica
// using the same store: the identity assertion's signing keys (package
// assertion). A name is written by whichever replica comes first; the
// others read what it wrote, so replicas starting together converge on one
// key. Errors other than ErrNotFound mean the store could not answer.
type KeyStore interface {
	// Key returns the value stored under name, or ErrNotFound when there is
	// none or it has expired.
	Key(ctx context.Context, name string) ([]byte, error)
	// AddKey stores value under name until expires, unless a value is
	// already stored there, and returns the value stored under name
	// afterwards: value, or the one another replica stored first.
	AddKey(ctx context.Context, name string, value []byte, expires time.Time) ([]byte, error)
}
