package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/pgtest"
	"github.com/outpost-dev/outpost/session"
)

// postgresEnv points the outpost at srv with the core's variable names, the
// password read from a file.
func postgresEnv(t *testing.T, srv *pgtest.Server, password string) []string {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "pg-password")
	if err := os.WriteFile(pw, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{
		"AUTHENTIK_POSTGRESQL__HOST=" + srv.Host(), fmt.Sprintf("AUTHENTIK_POSTGRESQL__PORT=%d", srv.Port()),
		"AUTHENTIK_POSTGRESQL__NAME=" + pgtest.Database, "AUTHENTIK_POSTGRESQL__USER=" + pgtest.User,
		"AUTHENTIK_POSTGRESQL__PASSWORD=file://" + pw, "AUTHENTIK_POSTGRESQL__SSLMODE=disable",
	}
}

// The Redis replica test, on PostgreSQL: two outposts, requests alternating
// between them, a replica restart, the database going away (503, nothing
// through) and coming back, one refresh for 50 parallel requests across
// both, sign-out, and SESSION_END ending the session on both within 1 s.
func TestReplicasShareSessionsThroughPostgres(t *testing.T) {
	srv := pgtest.Start(t)
	testReplicasShareSessions(t, srv.Kill, srv.Restart, postgresEnv(t, srv, pgtest.Password)...)
	// The sessions were in the outpost's schema, nowhere else.
	if got := srv.Query(t, `SELECT string_agg(schemaname || '.' || tablename, ',' ORDER BY tablename) FROM pg_tables WHERE tableowner = $1`, pgtest.User); fmt.Sprint(got) != "[outpost.locks,outpost.once_keys,outpost.schema_migrations,outpost.sessions,outpost.signing_keys]" {
		t.Errorf("the outpost's tables: %v", got)
	}
}

// At start the outpost says which schema version it found and which it
// migrated to, and the next start finds it up to date; Redis and PostgreSQL
// together are refused; a wrong password is logged without the password,
// and the outpost serves (503 for sessions) rather than exiting.
func TestPostgresSessionStoreStart(t *testing.T) {
	srv := pgtest.Start(t)
	cfg := filepath.Join(t.TempDir(), "providers.yaml")
	if err := os.WriteFile(cfg, []byte(standaloneYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		password string
		want     []string
	}{
		{"empty database", pgtest.Password, []string{
			fmt.Sprintf(`"msg":"session schema migrated","schema":"outpost","found_version":0,"version":%d`, session.PostgresSchemaVersion()),
			`"msg":"sessions in postgresql"`,
		}},
		{"restart", pgtest.Password, []string{
			fmt.Sprintf(`"msg":"session schema up to date","schema":"outpost","found_version":%[1]d,"version":%[1]d`, session.PostgresSchemaVersion()),
			`"msg":"sessions in postgresql"`,
		}},
		{"wrong password", "wrong-s3cret-pw", []string{`password authentication failed for user \"outpost_app\"`, "requests that need a session get 503"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := append([]string{"AUTHENTIK_LISTEN__HTTP=" + freeAddr(t), "AUTHENTIK_LISTEN__METRICS=" + freeAddr(t), "AUTHENTIK_LOG__FORMAT=json"},
				postgresEnv(t, srv, tc.password)...)
			p := start(t, env, "--config", cfg)
			for _, w := range tc.want {
				p.waitFor(t, w, 30*time.Second)
			}
			p.waitFor(t, "configuration in force", 30*time.Second)
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			p.wait(t, 30*time.Second)
			if out := p.output(); strings.Contains(out, pgtest.Password) || strings.Contains(out, "s3cret") {
				t.Errorf("the password is in the output:\n%s", out)
			}
		})
	}

	p := start(t, append(postgresEnv(t, srv, "hunter2"), "AUTHENTIK_REDIS__HOST=redis"))
	if code := p.wait(t, 30*time.Second); code == 0 {
		t.Error("both Redis and PostgreSQL: exit 0")
	}
	if out := p.output(); !strings.Contains(out, "AUTHENTIK_POSTGRESQL__HOST: set together with Redis (AUTHENTIK_REDIS__*)") || strings.Contains(out, "hunter2") {
		t.Errorf("both Redis and PostgreSQL:\n%s", out)
	}
}
