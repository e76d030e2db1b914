package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/outpost-dev/outpost/internal/config"
	"github.com/outpost-dev/outpost/session"
	"github.com/redis/go-redis/v9"
)

// sessionHooks let the caller count what the store does.
type sessionHooks struct {
	// OnEvict: the memory store evicted a live session for room.
	OnEvict func()
	// OnStoreError: a Redis store operation failed (op: get, save, delete,
	// delete_by_sid, delete_by_sub, len, lock, first_use); requests that
	// needed it were refused with 503.
	OnStoreError func(op string)
}

// Redis timeouts: a request waiting on a Redis that does not answer gets
// its 503 within about a second, not after the client's defaults.
const (
	redisDialTimeout = 2 * time.Second
	redisIOTimeout   = time.Second
)

// newSessionStore builds the store the environment asks for: Redis when
// AUTHENTIK_REDIS__HOST (or __SENTINEL__*, __CLUSTER__ADDRS) or
// OUTPOST_SESSION_URL is set, PostgreSQL when
// AUTHENTIK_POSTGRESQL__HOST is, else memory. kind is "redis", "postgresql"
// or "memory". A store that is down at start is not fatal: requests get 503
// until it answers.
func newSessionStore(env config.Env, log *slog.Logger, hooks sessionHooks) (store session.Store, kind string, err error) {
	// OUTPOST_SESSION_CACHE_SIZE sizes either store's cache; 0 turns it off.
	cacheSize := env.Sessions.CacheSize
	if cacheSize == 0 {
		cacheSize = -1
	}
	if env.Sessions.Postgres != nil {
		return newPostgresSessionStore(env, log, hooks, cacheSize)
	}
	r := env.Sessions.Redis
	if r == nil {
		return session.NewMemoryStore(session.MemoryOptions{OnEvict: hooks.OnEvict, CacheSize: cacheSize, MaxSessionsPerSubject: env.Sessions.MaxSessionsPerSubject}), "memory", nil
	}
	conn, err := redisConnection(r)
	if err != nil {
		return nil, "", err
	}
	conn.Prefix, conn.CacheSize, conn.OnError, conn.Log = env.Sessions.Prefix, cacheSize, hooks.OnStoreError, log
	st, err := session.NewRedisStore(conn)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", r.From, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	policyChecked := watchEvictionPolicy(st, log)
	pingErr := st.Ping(ctx)
	if err := pingErr; err != nil {
		msg := "sessions in redis, which does not answer yet: requests that need a session get 503 until it does"
		var rerr redis.Error
		if errors.As(err, &rerr) {
			msg = "sessions in redis, which refused the connection (check the password, user and database)"
		}
		log.Error(msg, "redis", r.String(), "from", r.From, "error", err)
	} else {
		if err := checkEvictionPolicy(ctx, st, log); err != nil {
			_ = st.Close()
			return nil, "", fmt.Errorf("%s: %w", r.From, err)
		}
		log.Info("sessions in redis", "redis", r.String(), "from", r.From, "prefix", env.Sessions.Prefix)
	}
	policyChecked(pingErr == nil)
	return st, "redis", nil
}

// redisConnection is where r says Redis is, as the store's options: one
// node, a master through Sentinel, or a cluster. Every kind gets the same
// credentials, TLS, timeouts and retries.
func redisConnection(r *config.Redis) (session.RedisOptions, error) {
	var tlsConfig *tls.Config
	if r.TLS {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: !r.TLSVerify} //nolint:gosec // TLS_REQS=none asks for exactly this
		if r.Addr != "" {
			// One node: its name. Sentinel and Cluster: crypto/tls checks
			// each node against the address dialled (as Sentinel or the
			// cluster announce it).
			host, _, _ := net.SplitHostPort(r.Addr)
			tlsConfig.ServerName = host
		}
		if r.TLSCACert != "" {
			pem, err := os.ReadFile(r.TLSCACert)
			if err != nil {
				return session.RedisOptions{}, fmt.Errorf("%s: TLS CA certificate: %w", r.From, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return session.RedisOptions{}, fmt.Errorf("%s: TLS CA certificate %s holds no PEM certificate", r.From, r.TLSCACert)
			}
			tlsConfig.RootCAs = pool
		}
	}
	// One set of options for the three clients, so that timeouts, retries
	// and credentials cannot drift between them.
	o := &redis.UniversalOptions{
		Addrs:        []string{r.Addr},
		Username:     r.Username,
		Password:     r.Password,
		DB:           r.DB,
		TLSConfig:    tlsConfig,
		DialTimeout:  redisDialTimeout,
		ReadTimeout:  redisIOTimeout,
		WriteTimeout: redisIOTimeout,
		MaxRetries:   1,
		// A request that is gone stops waiting on Redis.
		ContextTimeoutEnabled: true,
	}
	switch {
	case r.Sentinel != nil:
		o.Addrs, o.MasterName, o.SentinelPassword = r.Sentinel.Addrs, r.Sentinel.Master, r.Sentinel.Password
		return session.RedisOptions{Failover: o.Failover()}, nil
	case r.ClusterAddrs != nil:
		// ReadOnly stays false: a replica may lag, and a session read
		// there could be one a sign-out already ended.
		o.Addrs = r.ClusterAddrs
		return session.RedisOptions{Cluster: o.Cluster()}, nil
	}
	return session.RedisOptions{Client: o.Simple()}, nil
}
