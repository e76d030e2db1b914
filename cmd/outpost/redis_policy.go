package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/outpost-dev/outpost/session"
)

// An evicting maxmemory-policy lets Redis drop the sid:/sub: index keys of
// live sessions when it is full; SESSION_END and sign-out then end nothing.
// At start the outpost refuses such a Redis. A Redis that refuses CONFIG
// (managed services) gets a warning: its policy cannot be known. A Redis
// that was down at start, or comes back (perhaps a failover to another
// node), is checked again and logged at ERROR: a running outpost does not
// stop serving over it. Sentinel: the master it points at when checked
// (and again after a failover, when the subscription comes back). Cluster:
// every master.

// checkEvictionPolicy returns an error for an evicting policy.
func checkEvictionPolicy(ctx context.Context, st *session.RedisStore, log *slog.Logger) error {
	policy, node, err := st.MaxmemoryPolicy(ctx)
	if err != nil {
		log.Warn("could not read the redis maxmemory-policy (CONFIG GET refused?): make sure it is noeviction, or revocations can miss sessions when redis is full", "error", err)
		return nil
	}
	if policy != "noeviction" {
		where := ""
		if node != "" {
			where = " on cluster master " + node
		}
		return fmt.Errorf("redis maxmemory-policy is %s%s: when full it evicts session index keys and sign-outs and SESSION_END then end nothing; set maxmemory-policy noeviction (see docs/sessions.md)", policy, where)
	}
	return nil
}

// watchEvictionPolicy logs an evicting policy whenever the store's link
// to Redis comes back, once the start-up check is done (done). A link
// that came up before then, after a start-up check that could not reach
// Redis, is checked at done.
func watchEvictionPolicy(st *session.RedisStore, log *slog.Logger) (done func(checked bool)) {
	var starting atomic.Bool
	starting.Store(true)
	check := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := checkEvictionPolicy(ctx, st, log); err != nil {
			log.Error("session store misconfigured", "error", err)
		}
	}
	st.OnFeed(func(up bool) {
		if up && !starting.Load() {
			go check()
		}
	})
	return func(checked bool) {
		starting.Store(false)
		if !checked && st.Subscribed() {
			go check()
		}
	}
}
