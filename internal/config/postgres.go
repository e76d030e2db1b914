package config

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/outpost-dev/outpost/session"
)

// Postgres is the PostgreSQL connection for sessions, from the core's own
// variables (AUTHENTIK_POSTGRESQL__*), so that an outpost next to an
// authentik core can share its settings, and the schema the outpost owns
// (OUTPOST_POSTGRESQL__SCHEMA). Never log Password; String redacts it.
type Postgres struct {
	Host     string
	Port     int
	Name     string
	User     string
	Password string
	// SSLMode is libpq's: disable, allow, prefer (the default, as for the
	// core), require, verify-ca or verify-full.
	SSLMode     string
	SSLRootCert string
	SSLCert     string
	SSLKey      string
	// Schema holds the outpost's tables, and nothing of the core's.
	Schema string
	// From names the variables that configured it, for messages.
	From string
}

// The core's defaults (authentik's default.yml): database and user
// "authentik", port 5432, and the password from POSTGRES_PASSWORD when
// AUTHENTIK_POSTGRESQL__PASSWORD is not set.
const (
	DefaultPostgresPort = 5432
	DefaultPostgresName = "authentik"
	DefaultPostgresUser = "authentik"
)

var postgresVars = []string{
	"AUTHENTIK_POSTGRESQL__HOST", "AUTHENTIK_POSTGRESQL__PORT", "AUTHENTIK_POSTGRESQL__NAME", "AUTHENTIK_POSTGRESQL__USER",
	"AUTHENTIK_POSTGRESQL__PASSWORD", "AUTHENTIK_POSTGRESQL__SSLMODE", "AUTHENTIK_POSTGRESQL__SSLROOTCERT",
	"AUTHENTIK_POSTGRESQL__SSLCERT", "AUTHENTIK_POSTGRESQL__SSLKEY", "OUTPOST_POSTGRESQL__SCHEMA",
}

var postgresSSLModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// loadPostgres adds the PostgreSQL settings to se (read by
// loadSessions): AUTHENTIK_POSTGRESQL__HOST turns the store on.
func loadPostgres(se Sessions, get func(string) (string, bool), fail func(name, format string, args ...any)) Sessions {
	vals := map[string]string{}
	var set []string
	for _, name := range postgresVars {
		if v, ok := get(name); ok {
			vals[name] = v
			set = append(set, name)
		}
	}
	if len(set) == 0 {
		return se
	}
	host, ok := vals["AUTHENTIK_POSTGRESQL__HOST"]
	if !ok {
		fail(set[0], "set without AUTHENTIK_POSTGRESQL__HOST: set the host to keep sessions in PostgreSQL, or unset %s", strings.Join(set, ", "))
		return se
	}
	if se.Redis != nil {
		fail("AUTHENTIK_POSTGRESQL__HOST", "set together with Redis (%s): sessions live in one store; unset the Redis settings to keep them in PostgreSQL, or AUTHENTIK_POSTGRESQL__HOST to keep them in Redis", se.Redis.From)
		return se
	}
	if v, ok := get("AUTHENTIK_POSTGRESQL__USE_PGBOUNCER"); ok {
		if b, err := ParseEnvBool(v); err == nil && b {
			fail("AUTHENTIK_POSTGRESQL__USE_PGBOUNCER", "is true, but the session store needs LISTEN/NOTIFY and session-level locks, which PgBouncer's transaction pooling does not carry: point AUTHENTIK_POSTGRESQL__HOST at PostgreSQL itself (or a session-pooling PgBouncer) and unset this")
			return se
		}
	}
	if strings.Contains(host, "://") || strings.Contains(host, "@") {
		// Not quoted: a URL may hold the password.
		fail("AUTHENTIK_POSTGRESQL__HOST", "want a host name, an IP address or a socket directory, got a URL; give its parts in AUTHENTIK_POSTGRESQL__HOST, __PORT, __NAME, __USER and __PASSWORD")
		return se
	}
	if strings.ContainsAny(host, " \t'\\") {
		fail("AUTHENTIK_POSTGRESQL__HOST", "want a host name, an IP address or a socket directory, got %q", host)
		return se
	}
	p := &Postgres{From: "AUTHENTIK_POSTGRESQL__*", Host: strings.Trim(host, "[]"), Port: DefaultPostgresPort,
		Name: DefaultPostgresName, User: DefaultPostgresUser, SSLMode: "prefer", Schema: session.DefaultPostgresSchema}
	if v, ok := vals["AUTHENTIK_POSTGRESQL__PORT"]; ok {
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil || n == 0 {
			fail("AUTHENTIK_POSTGRESQL__PORT", "want a port from 1 to 65535, got %q", v)
		}
		p.Port = int(n)
	}
	if v, ok := vals["AUTHENTIK_POSTGRESQL__NAME"]; ok {
		p.Name = v
	}
	if v, ok := vals["AUTHENTIK_POSTGRESQL__USER"]; ok {
		p.User = v
	}
	if v, ok := vals["AUTHENTIK_POSTGRESQL__PASSWORD"]; ok {
		p.Password = v
	} else if v, ok := get("POSTGRES_PASSWORD"); ok {
		p.Password = v // the core's default: env://POSTGRES_PASSWORD
	}
	if v, ok := vals["AUTHENTIK_POSTGRESQL__SSLMODE"]; ok {
		mode := strings.ToLower(v)
		if !slices.Contains(postgresSSLModes, mode) {
			fail("AUTHENTIK_POSTGRESQL__SSLMODE", "want one of %s, got %q", strings.Join(postgresSSLModes, ", "), v)
		}
		p.SSLMode = mode
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"AUTHENTIK_POSTGRESQL__SSLROOTCERT", &p.SSLRootCert},
		{"AUTHENTIK_POSTGRESQL__SSLCERT", &p.SSLCert},
		{"AUTHENTIK_POSTGRESQL__SSLKEY", &p.SSLKey},
	} {
		v, ok := vals[f.name]
		if !ok {
			continue
		}
		if p.SSLMode == "disable" {
			fail(f.name, "set, but AUTHENTIK_POSTGRESQL__SSLMODE is disable")
		}
		if _, err := os.Stat(v); err != nil {
			fail(f.name, "cannot read %s: %v", v, err)
		}
		*f.dst = v
	}
	if (p.SSLCert == "") != (p.SSLKey == "") {
		fail("AUTHENTIK_POSTGRESQL__SSLCERT", "a client certificate needs both AUTHENTIK_POSTGRESQL__SSLCERT and AUTHENTIK_POSTGRESQL__SSLKEY")
	}
	if v, ok := vals["OUTPOST_POSTGRESQL__SCHEMA"]; ok {
		if err := session.CheckPostgresSchema(v); err != nil {
			fail("OUTPOST_POSTGRESQL__SCHEMA", "%v", err)
		}
		p.Schema = v
	}
	se.Postgres = p
	return se
}

// ConnString is the libpq keyword/value connection string, password and
// all: give it to the driver, never to a log.
func (p *Postgres) ConnString() string {
	kv := []string{"host=" + pgQuote(p.Host), "port=" + strconv.Itoa(p.Port), "dbname=" + pgQuote(p.Name),
		"user=" + pgQuote(p.User), "sslmode=" + p.SSLMode}
	for _, o := range []struct{ key, val string }{
		{"password", p.Password}, {"sslrootcert", p.SSLRootCert}, {"sslcert", p.SSLCert}, {"sslkey", p.SSLKey},
	} {
		if o.val != "" {
			kv = append(kv, o.key+"="+pgQuote(o.val))
		}
	}
	return strings.Join(kv, " ")
}

// pgQuote quotes a keyword/value connection string value.
func pgQuote(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

func (p *Postgres) String() string {
	pw := ""
	if p.Password != "" {
		pw = " password=[redacted]"
	}
	tls := ""
	if p.SSLRootCert != "" {
		tls += " sslrootcert=" + p.SSLRootCert
	}
	if p.SSLCert != "" {
		tls += " sslcert=" + p.SSLCert
	}
	return fmt.Sprintf("%s:%d db=%s user=%s sslmode=%s%s%s schema=%s", p.Host, p.Port, p.Name, p.User, p.SSLMode, tls, pw, p.Schema)
}

// GoString redacts under %#v too.
func (p *Postgres) GoString() string { return p.String() }
