package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/outpost-dev/outpost/session"
)

// Sessions says where sessions live. With Redis and Postgres nil they
// stay in this process's memory (one replica, or sticky routing).
type Sessions struct {
	Redis *Redis
	// Postgres is set by AUTHENTIK_POSTGRESQL__HOST (postgres.go).
	Postgres *Postgres
	// Prefix starts every Redis key (OUTPOST_SESSION_PREFIX, default
	// session.DefaultRedisPrefix), so several deployments can share one
	// Redis.
	Prefix string
	// CacheSize bounds the per-replica read cache in front of Redis, or
	// the memory store's decoded sessions (OUTPOST_SESSION_CACHE_SIZE,
	// default session.DefaultMemoryCacheSize; 0 turns it off).
	CacheSize int
	// MaxSessionsPerSubject bounds one account's sessions at one provider
	// in the memory and PostgreSQL stores (OUTPOST_SESSION_MAX_PER_USER; 0:
	// the store's default, session.DefaultMaxSessionsPerSubject).
	MaxSessionsPerSubject int
}

// Redis is the Redis connection, from AUTHENTIK_REDIS__* or from
// OUTPOST_SESSION_URL: one node (Addr), a master found through Sentinel
// (Sentinel), or a Redis Cluster (ClusterAddrs); exactly one is set. Never
// log a password; String redacts them.
type Redis struct {
	// Addr is host:port of a single node.
	Addr string
	// Sentinel finds the master through Redis Sentinel
	// (AUTHENTIK_REDIS__SENTINEL__*).
	Sentinel *RedisSentinel
	// ClusterAddrs are host:port of some nodes of a Redis Cluster
	// (AUTHENTIK_REDIS__CLUSTER__ADDRS); the client learns the rest.
	ClusterAddrs []string
	// Username and Password are the data nodes' (the master and
	// replicas, or the cluster's nodes).
	Username string
	Password string
	DB       int
	TLS      bool
	// TLSVerify checks the server certificate (TLS_REQS optional or
	// required; rediss:// unless ?tls_reqs=none).
	TLSVerify bool
	// TLSCACert is a PEM file of CAs to trust instead of the system's.
	TLSCACert string
	// From names the variable(s) that configured it, for messages.
	From string
}

// RedisSentinel is where Sentinel is and which master it watches.
type RedisSentinel struct {
	// Master is the name the sentinels monitor it by.
	Master string
	// Addrs are host:port of the sentinels.
	Addrs []string
	// Password is the sentinels' own (their requirepass), not the data
	// nodes'.
	Password string
}

// defaultRedisPort is Redis's own.
const defaultRedisPort = "6379"

func (s Sessions) String() string {
	if s.Postgres != nil {
		return fmt.Sprintf("postgresql(%s cache=%d)", s.Postgres, s.CacheSize)
	}
	if s.Redis == nil {
		return "memory"
	}
	return fmt.Sprintf("redis(%s prefix=%q cache=%d)", s.Redis, s.Prefix, s.CacheSize)
}

func (r *Redis) String() string {
	pw := ""
	if r.Password != "" {
		pw = " password=[redacted]"
	}
	user := ""
	if r.Username != "" {
		user = " user=" + r.Username
	}
	where := r.Addr
	switch {
	case r.Sentinel != nil:
		where = fmt.Sprintf("sentinel master=%s sentinels=%s", r.Sentinel.Master, strings.Join(r.Sentinel.Addrs, ","))
		if r.Sentinel.Password != "" {
			where += " sentinel_password=[redacted]"
		}
	case r.ClusterAddrs != nil:
		where = "cluster nodes=" + strings.Join(r.ClusterAddrs, ",")
	}
	return fmt.Sprintf("%s db=%d tls=%t verify=%t%s%s", where, r.DB, r.TLS, r.TLSVerify, user, pw)
}

// GoString redacts under %#v too.
func (r *Redis) GoString() string { return r.String() }

var redisVars = []string{
	"AUTHENTIK_REDIS__HOST", "AUTHENTIK_REDIS__PORT", "AUTHENTIK_REDIS__USERNAME", "AUTHENTIK_REDIS__PASSWORD",
	"AUTHENTIK_REDIS__DB", "AUTHENTIK_REDIS__TLS", "AUTHENTIK_REDIS__TLS_REQS", "AUTHENTIK_REDIS__TLS_CA_CERT",
	sentinelMasterVar, sentinelAddrsVar, sentinelPasswordVar, clusterAddrsVar,
}

func loadSessions(get func(string) (string, bool), fail func(name, format string, args ...any)) Sessions {
	se := Sessions{Prefix: session.DefaultRedisPrefix, CacheSize: session.DefaultMemoryCacheSize}
	if v, ok := get("OUTPOST_SESSION_PREFIX"); ok {
		if strings.ContainsAny(v, " \t\r\n") {
			fail("OUTPOST_SESSION_PREFIX", "must not contain white space, got %q", v)
		}
		se.Prefix = v
	}
	if v, ok := get("OUTPOST_SESSION_CACHE_SIZE"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			fail("OUTPOST_SESSION_CACHE_SIZE", "want a whole number of at least 0 (0 turns the cache off), got %q", v)
		} else {
			se.CacheSize = n
		}
	}
	if v, ok := get("OUTPOST_SESSION_MAX_PER_USER"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			fail("OUTPOST_SESSION_MAX_PER_USER", "want a whole number of at least 1, got %q", v)
		} else {
			se.MaxSessionsPerSubject = n
		}
	}
	var set []string
	vals := map[string]string{}
	for _, name := range redisVars {
		if v, ok := get(name); ok {
			set = append(set, name)
			vals[name] = v
		}
	}
	rawURL, hasURL := get("OUTPOST_SESSION_URL")
	switch {
	case hasURL && len(set) > 0:
		fail("OUTPOST_SESSION_URL", "set together with %s: configure Redis with one or the other, not both", strings.Join(set, ", "))
		return se
	case hasURL:
		r, err := parseSessionURL(rawURL)
		if err != nil {
			fail("OUTPOST_SESSION_URL", "%v", err)
			return se
		}
		se.Redis = r
		return se
	case len(set) == 0:
		return se
	}
	r := &Redis{From: "AUTHENTIK_REDIS__*", Username: vals["AUTHENTIK_REDIS__USERNAME"], Password: vals["AUTHENTIK_REDIS__PASSWORD"]}
	if !loadRedisTopology(r, vals, set, fail) {
		return se
	}
	if v, ok := vals["AUTHENTIK_REDIS__DB"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			fail("AUTHENTIK_REDIS__DB", "want a database number of at least 0, got %q", v)
		}
		r.DB = n
	}
	if v, ok := vals["AUTHENTIK_REDIS__TLS"]; ok {
		b, err := ParseEnvBool(v)
		if err != nil {
			fail("AUTHENTIK_REDIS__TLS", "%v", err)
		}
		r.TLS = b
	}
	r.TLSVerify = true
	if v, ok := vals["AUTHENTIK_REDIS__TLS_REQS"]; ok {
		verify, err := parseTLSReqs(v)
		if err != nil {
			fail("AUTHENTIK_REDIS__TLS_REQS", "%v", err)
		}
		r.TLSVerify = verify
	}
	r.TLSCACert = vals["AUTHENTIK_REDIS__TLS_CA_CERT"]
	if (r.TLSCACert != "" || vals["AUTHENTIK_REDIS__TLS_REQS"] != "") && !r.TLS {
		fail("AUTHENTIK_REDIS__TLS", "TLS settings are given but AUTHENTIK_REDIS__TLS is not true")
	}
	if r.ClusterAddrs != nil {
		if r.DB != 0 {
			fail("AUTHENTIK_REDIS__DB", "a Redis Cluster has only database 0 (%s is set); unset AUTHENTIK_REDIS__DB", clusterAddrsVar)
		}
		if strings.ContainsAny(se.Prefix, "{}") {
			fail("OUTPOST_SESSION_PREFIX", "must not contain { or } with a Redis Cluster (%s): the store puts its own hash tags after the prefix, got %q", clusterAddrsVar, se.Prefix)
		}
	}
	se.Redis = r
	return se
}

// parseTLSReqs maps authentik's tls_reqs (Python's ssl.CERT_*) to whether
// the server certificate is checked. For a client, "optional" checks it as
// "required" does.
func parseTLSReqs(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "none":
		return false, nil
	case "optional", "required":
		return true, nil
	}
	return false, fmt.Errorf("want none, optional or required, got %q", v)
}

// parseSessionURL reads redis://[user:password@]host[:port][/db] and
// rediss:// (TLS). Query: tls_reqs=none|optional|required, ca_cert=/path.
// Errors never include the password.
func parseSessionURL(raw string) (*Redis, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url's error quotes the input, password and all.
		return nil, fmt.Errorf("not a URL (want redis://[user:password@]host[:port][/db] or rediss://...)")
	}
	r := &Redis{From: "OUTPOST_SESSION_URL", TLSVerify: true}
	switch u.Scheme {
	case "redis":
	case "rediss":
		r.TLS = true
	default:
		return nil, fmt.Errorf("scheme must be redis or rediss, got %q", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%s has no host", u.Redacted())
	}
	port := u.Port()
	if port == "" {
		port = defaultRedisPort
	} else if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return nil, fmt.Errorf("%s: bad port %q", u.Redacted(), port)
	}
	r.Addr = net.JoinHostPort(u.Hostname(), port)
	if u.User != nil {
		r.Username = u.User.Username()
		r.Password, _ = u.User.Password()
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%s: the path is the database number, got %q", u.Redacted(), db)
		}
		r.DB = n
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "tls_reqs", "ca_cert":
		default:
			return nil, fmt.Errorf("%s: unknown parameter %q (known: tls_reqs, ca_cert)", u.Redacted(), k)
		}
	}
	if v := q.Get("tls_reqs"); v != "" {
		verify, err := parseTLSReqs(v)
		if err != nil {
			return nil, fmt.Errorf("tls_reqs: %v", err)
		}
		r.TLSVerify = verify
	}
	r.TLSCACert = q.Get("ca_cert")
	if !r.TLS && (q.Has("tls_reqs") || q.Has("ca_cert")) {
		return nil, fmt.Errorf("%s: tls_reqs and ca_cert need rediss://", u.Redacted())
	}
	return r, nil
}
