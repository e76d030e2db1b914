package session

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The outpost owns one schema (PostgresOptions.Schema, "outpost" unless
// configured) and never touches another: next to an authentik core, whose
// tables live in public, the two share a database and nothing else.
//
// The schema is versioned: schema_migrations lists the migrations applied.
// A store applies the ones missing at start, under an advisory lock, so
// replicas starting together migrate once and the others wait and find it
// done. Migrations only ever add: an outpost one version behind keeps
// working on a schema migrated by a newer one (a rolling update, a
// rollback), and says so.

// postgresMigrations are applied in order; {s} is the quoted schema. Never
// change one that has shipped: add another.
var postgresMigrations = []struct {
	version     int
	description string
	sql         string
}{
	{1, "sessions, replay guard and locks", `
CREATE TABLE {s}.sessions (
	id         text PRIMARY KEY,
	provider   text NOT NULL,
	sub        text NOT NULL,
	sid        text NOT NULL,
	data       bytea NOT NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_sid ON {s}.sessions (sid, provider);
CREATE INDEX sessions_sub ON {s}.sessions (sub, provider);
CREATE INDEX sessions_provider_sub ON {s}.sessions (provider, sub, expires_at);
CREATE INDEX sessions_expires_at ON {s}.sessions (expires_at);
CREATE TABLE {s}.once_keys (
	key        text PRIMARY KEY,
	expires_at timestamptz NOT NULL
);
CREATE INDEX once_keys_expires_at ON {s}.once_keys (expires_at);
CREATE TABLE {s}.locks (
	key        text PRIMARY KEY,
	token      text NOT NULL,
	expires_at timestamptz NOT NULL
);
CREATE INDEX locks_expires_at ON {s}.locks (expires_at);
`},
	{2, "identity assertion signing keys", `
CREATE TABLE {s}.signing_keys (
	name       text PRIMARY KEY,
	value      bytea NOT NULL,
	expires_at timestamptz NOT NULL
);
`},
}

// PostgresSchemaVersion is the schema version this outpost migrates to.
func PostgresSchemaVersion() int { return postgresMigrations[len(postgresMigrations)-1].version }

// postgresSchemaName: a plain lower-case identifier, short enough that the
// notification channel named after it fits PostgreSQL's 63 bytes.
var postgresSchemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,49}$`)

// CheckPostgresSchema says why name cannot be the outpost's schema, or nil.
func CheckPostgresSchema(name string) error {
	switch {
	case !postgresSchemaName.MatchString(name):
		return fmt.Errorf("want a lower-case identifier (a-z, 0-9, _; at most 50 characters, not starting with a digit), got %q", name)
	case name == "public" || name == "information_schema" || strings.HasPrefix(name, "pg_"):
		return fmt.Errorf("%q is not the outpost's own: its tables would sit with the core's or the server's; pick another, e.g. outpost", name)
	}
	return nil
}

// migrationLockClass is the first key of the two-key advisory lock taken
// around migrations ("outp"); the second is the schema's hash. Two-key
// locks never collide with the one-key locks other software takes.
const migrationLockClass = 0x6f757470

// SchemaMigration is what a store's start-up found and did.
type SchemaMigration struct {
	Schema string
	// Found is the version the schema had (0: none), Version the one it
	// has now. Found > Version: a newer outpost migrated it.
	Found, Version int
	Took           time.Duration
}

// migrate brings the schema to this outpost's version.
func (s *PostgresStore) migrate(ctx context.Context) (SchemaMigration, error) {
	res := SchemaMigration{Schema: s.opts.Schema}
	start := time.Now()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return res, err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, hashtext($2))`, migrationLockClass, s.opts.Schema); err != nil {
		return res, fmt.Errorf("waiting for the migration lock: %w", err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock($1, hashtext($2))`, migrationLockClass, s.opts.Schema); err != nil {
			// The lock goes with the connection.
			conn.Conn().PgConn().Close(uctx)
		}
	}()
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, s.opts.Schema).Scan(&exists); err != nil {
		return res, err
	}
	// Only when missing: an operator may have created it for a role that
	// may not create schemas.
	if !exists {
		if _, err := conn.Exec(ctx, `CREATE SCHEMA `+s.schema); err != nil {
			return res, fmt.Errorf("creating schema %s: %w", s.opts.Schema, err)
		}
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+s.schema+`.schema_migrations (
	version     integer PRIMARY KEY,
	description text NOT NULL,
	applied_at  timestamptz NOT NULL DEFAULT now()
)`); err != nil {
		return res, fmt.Errorf("creating %s.schema_migrations: %w", s.opts.Schema, err)
	}
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+s.schema+`.schema_migrations`).Scan(&res.Found); err != nil {
		return res, err
	}
	res.Version = res.Found
	for _, m := range postgresMigrations {
		if m.version <= res.Version {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, strings.ReplaceAll(m.sql, "{s}", s.schema)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO `+s.schema+`.schema_migrations (version, description) VALUES ($1, $2)`, m.version, m.description)
			return err
		})
		if err != nil {
			return res, fmt.Errorf("migration %d (%s) of schema %s: %w", m.version, m.description, s.opts.Schema, err)
		}
		res.Version = m.version
	}
	res.Took = time.Since(start)
	return res, nil
}

// errNotReady: the schema is not migrated yet (the database has not
// answered since the start).
var errNotReady = errors.New("not ready: the schema has not been checked and migrated yet (is the database reachable?)")

func itoa(n int) string { return strconv.Itoa(n) }
