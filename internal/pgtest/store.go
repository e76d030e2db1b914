package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/session"
)

// NewStore opens a session store on s (as User, in Database, unless
// o.ConnString says otherwise) and waits until its schema is migrated. The
// caller closes it.
func NewStore(t testing.TB, s *Server, o session.PostgresOptions) *session.PostgresStore {
	t.Helper()
	if o.ConnString == "" {
		o.ConnString = s.URL()
	}
	st, err := session.NewPostgresStore(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := st.WaitReady(ctx); err != nil {
		_ = st.Close()
		t.Fatalf("session store never ready: %v", err)
	}
	return st
}
