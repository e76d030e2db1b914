package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/outpost-dev/outpost/internal/config"
	"github.com/outpost-dev/outpost/session"
)

// postgresStartWait is how long the start waits for the database to answer
// and the schema to be checked before serving anyway: requests that need a
// session get 503 until it is ready.
const postgresStartWait = 5 * time.Second

// newPostgresSessionStore is newSessionStore for AUTHENTIK_POSTGRESQL__HOST.
// The store logs the schema version it found and the one it migrated to.
func newPostgresSessionStore(env config.Env, log *slog.Logger, hooks sessionHooks, cacheSize int) (session.Store, string, error) {
	p := env.Sessions.Postgres
	st, err := session.NewPostgresStore(session.PostgresOptions{
		ConnString: p.ConnString(), Schema: p.Schema, CacheSize: cacheSize,
		MaxSessionsPerSubject: env.Sessions.MaxSessionsPerSubject, OnError: hooks.OnStoreError, Log: log,
	})
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", p.From, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), postgresStartWait)
	defer cancel()
	if err := st.WaitReady(ctx); err != nil {
		log.Error("sessions in postgresql, which does not answer or refused the schema check yet: requests that need a session get 503 until it does (check the host, credentials and the role's right to create the schema)",
			"postgresql", p.String(), "from", p.From, "error", err)
	} else {
		log.Info("sessions in postgresql", "postgresql", p.String(), "from", p.From, "schema", p.Schema, "schema_version", session.PostgresSchemaVersion())
	}
	return st, "postgresql", nil
}
