package config

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/outpost-dev/outpost/internal/pgtest"
)

func TestPostgres(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	ca := filepath.Join(dir, "ca.pem")
	for _, f := range []string{pwFile, ca} {
		if err := os.WriteFile(f, []byte("s3cret-from-file\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	host := map[string]string{"AUTHENTIK_POSTGRESQL__HOST": "db.internal"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range host {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	const defaults = "db.internal:5432 db=authentik user=authentik sslmode=prefer"
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string // Sessions.String()
		conn string // ConnString(), when want is set
		err  string // substring of the error; "" = no error
	}{
		{name: "none", want: "memory"},
		{name: "host only: the core's defaults", env: host,
			want: "postgresql(" + defaults + " schema=outpost cache=10000)",
			conn: "host='db.internal' port=5432 dbname='authentik' user='authentik' sslmode=prefer"},
		{name: "every variable", env: with("AUTHENTIK_POSTGRESQL__PORT", "6432", "AUTHENTIK_POSTGRESQL__NAME", "sso", "AUTHENTIK_POSTGRESQL__USER", "outpost",
			"AUTHENTIK_POSTGRESQL__PASSWORD", `it's \ secret`, "AUTHENTIK_POSTGRESQL__SSLMODE", "verify-full", "AUTHENTIK_POSTGRESQL__SSLROOTCERT", ca,
			"AUTHENTIK_POSTGRESQL__SSLCERT", ca, "AUTHENTIK_POSTGRESQL__SSLKEY", ca, "OUTPOST_POSTGRESQL__SCHEMA", "outpost_team_a", "OUTPOST_SESSION_CACHE_SIZE", "0"),
			want: "postgresql(db.internal:6432 db=sso user=outpost sslmode=verify-full sslrootcert=" + ca + " sslcert=" + ca + " password=[redacted] schema=outpost_team_a cache=0)",
			conn: `host='db.internal' port=6432 dbname='sso' user='outpost' sslmode=verify-full password='it\'s \\ secret' sslrootcert='` + ca + `' sslcert='` + ca + `' sslkey='` + ca + `'`},
		{name: "password from file", env: with("AUTHENTIK_POSTGRESQL__PASSWORD", "file://"+pwFile),
			want: "postgresql(" + defaults + " password=[redacted] schema=outpost cache=10000)",
			conn: "host='db.internal' port=5432 dbname='authentik' user='authentik' sslmode=prefer password='s3cret-from-file'"},
		{name: "password from env", env: with("AUTHENTIK_POSTGRESQL__PASSWORD", "env://PG_SECRET", "PG_SECRET", "s3cret-from-env"),
			want: "postgresql(" + defaults + " password=[redacted] schema=outpost cache=10000)",
			conn: "host='db.internal' port=5432 dbname='authentik' user='authentik' sslmode=prefer password='s3cret-from-env'"},
		{name: "password as the core defaults it", env: with("POSTGRES_PASSWORD", "s3cret-default"),
			want: "postgresql(" + defaults + " password=[redacted] schema=outpost cache=10000)",
			conn: "host='db.internal' port=5432 dbname='authentik' user='authentik' sslmode=prefer password='s3cret-default'"},
		{name: "socket directory", env: map[string]string{"AUTHENTIK_POSTGRESQL__HOST": "/run/postgresql"},
			want: "postgresql(/run/postgresql:5432 db=authentik user=authentik sslmode=prefer schema=outpost cache=10000)",
			conn: "host='/run/postgresql' port=5432 dbname='authentik' user='authentik' sslmode=prefer"},
		{name: "and redis", env: with("AUTHENTIK_REDIS__HOST", "redis"), err: "AUTHENTIK_POSTGRESQL__HOST: set together with Redis (AUTHENTIK_REDIS__*)"},
		{name: "and a redis url", env: with("OUTPOST_SESSION_URL", "redis://:hunter2@redis/0"), err: "AUTHENTIK_POSTGRESQL__HOST: set together with Redis (OUTPOST_SESSION_URL)"},
		{name: "without host", env: map[string]string{"AUTHENTIK_POSTGRESQL__PASSWORD": "hunter2", "OUTPOST_POSTGRESQL__SCHEMA": "x"},
			err: "AUTHENTIK_POSTGRESQL__PASSWORD: set without AUTHENTIK_POSTGRESQL__HOST: set the host to keep sessions in PostgreSQL, or unset AUTHENTIK_POSTGRESQL__PASSWORD, OUTPOST_POSTGRESQL__SCHEMA"},
		{name: "url as host", env: map[string]string{"AUTHENTIK_POSTGRESQL__HOST": "postgres://u:hunter2@db/x"}, err: "AUTHENTIK_POSTGRESQL__HOST: want a host name"},
		{name: "space in host", env: map[string]string{"AUTHENTIK_POSTGRESQL__HOST": "db internal"}, err: `AUTHENTIK_POSTGRESQL__HOST: want a host name, an IP address or a socket directory, got "db internal"`},
		{name: "bad port", env: with("AUTHENTIK_POSTGRESQL__PORT", "0"), err: "AUTHENTIK_POSTGRESQL__PORT: want a port from 1 to 65535"},
		{name: "bad sslmode", env: with("AUTHENTIK_POSTGRESQL__SSLMODE", "on"), err: "AUTHENTIK_POSTGRESQL__SSLMODE: want one of disable, allow, prefer, require, verify-ca, verify-full"},
		{name: "root cert with tls off", env: with("AUTHENTIK_POSTGRESQL__SSLMODE", "disable", "AUTHENTIK_POSTGRESQL__SSLROOTCERT", ca),
			err: "AUTHENTIK_POSTGRESQL__SSLROOTCERT: set, but AUTHENTIK_POSTGRESQL__SSLMODE is disable"},
		{name: "missing root cert", env: with("AUTHENTIK_POSTGRESQL__SSLROOTCERT", filepath.Join(dir, "nope.pem")), err: "AUTHENTIK_POSTGRESQL__SSLROOTCERT: cannot read"},
		{name: "cert without key", env: with("AUTHENTIK_POSTGRESQL__SSLCERT", ca), err: "AUTHENTIK_POSTGRESQL__SSLCERT: a client certificate needs both"},
		{name: "schema public", env: with("OUTPOST_POSTGRESQL__SCHEMA", "public"), err: "OUTPOST_POSTGRESQL__SCHEMA: \"public\" is not the outpost's own"},
		{name: "schema pg_", env: with("OUTPOST_POSTGRESQL__SCHEMA", "pg_sessions"), err: "OUTPOST_POSTGRESQL__SCHEMA"},
		{name: "schema quoted", env: with("OUTPOST_POSTGRESQL__SCHEMA", `x"; DROP TABLE y; --`), err: "OUTPOST_POSTGRESQL__SCHEMA: want a lower-case identifier"},
		{name: "schema too long", env: with("OUTPOST_POSTGRESQL__SCHEMA", strings.Repeat("s", 51)), err: "OUTPOST_POSTGRESQL__SCHEMA: want a lower-case identifier"},
		{name: "pgbouncer", env: with("AUTHENTIK_POSTGRESQL__USE_PGBOUNCER", "true", "AUTHENTIK_POSTGRESQL__PASSWORD", "hunter2"), err: "AUTHENTIK_POSTGRESQL__USE_PGBOUNCER: is true"},
		{name: "pgbouncer off", env: with("AUTHENTIK_POSTGRESQL__USE_PGBOUNCER", "false"),
			want: "postgresql(" + defaults + " schema=outpost cache=10000)",
			conn: "host='db.internal' port=5432 dbname='authentik' user='authentik' sslmode=prefer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, err := Load(mapLookup(tc.env), false)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want one containing %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := env.Sessions.String(); got != tc.want {
				t.Errorf("Sessions = %s\n want %s", got, tc.want)
			}
			if p := env.Sessions.Postgres; p != nil && p.ConnString() != tc.conn {
				t.Errorf("ConnString = %s\n      want %s", p.ConnString(), tc.conn)
			}
			for _, s := range []string{env.String(), fmt.Sprintf("%v %+v %#v", env, env, env)} {
				if strings.Contains(s, "secret") || strings.Contains(s, "s3cret") {
					t.Errorf("printed env shows the password: %s", s)
				}
			}
		})
	}
}

// The connection string the variables make reaches a real server, with a
// password that needs quoting.
func TestPostgresConnects(t *testing.T) {
	srv := pgtest.Start(t)
	const pw = `it's a \ pass word`
	srv.Exec(t, "postgres", `ALTER ROLE `+pgtest.User+` PASSWORD 'it''s a \ pass word'`)
	env, err := Load(mapLookup(map[string]string{
		"AUTHENTIK_POSTGRESQL__HOST": srv.Host(), "AUTHENTIK_POSTGRESQL__PORT": fmt.Sprint(srv.Port()),
		"AUTHENTIK_POSTGRESQL__NAME": pgtest.Database, "AUTHENTIK_POSTGRESQL__USER": pgtest.User,
		"AUTHENTIK_POSTGRESQL__PASSWORD": "env://THE_PW", "THE_PW": pw, "AUTHENTIK_POSTGRESQL__SSLMODE": "disable",
	}), false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, env.Sessions.Postgres.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var who string
	if err := c.QueryRow(ctx, "SELECT current_user || '@' || current_database()").Scan(&who); err != nil || who != pgtest.User+"@"+pgtest.Database {
		t.Errorf("connected as %q, %v", who, err)
	}
}
