package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions configure a RedisStore.
type RedisOptions struct {
	// Exactly one of Client, Failover and Cluster says where Redis is.
	//
	// Client is one node: address, credentials, database, TLS, timeouts.
	Client *redis.Options
	// Failover is a master found through Redis Sentinel, followed when
	// Sentinel promotes a replica.
	Failover *redis.FailoverOptions
	// Cluster is a Redis Cluster: sessions are spread over hash-tagged
	// buckets (redis_layout.go). Never set ReadOnly or the route-by
	// options: a replica can lag its master, and a session read there
	// could be one a sign-out already ended.
	Cluster *redis.ClusterOptions
	// Prefix starts every key and the pub/sub channel, so several outpost
	// deployments can share one Redis. Default "outpost:". On a cluster it
	// must hold no brace (it would override the buckets' hash tags).
	Prefix string
	// CacheSize bounds the in-process read cache (sessions). Default 10000;
	// negative disables the cache.
	CacheSize int
	// CacheTTL is how long a cached session is served without asking Redis
	// (revocations invalidate it at once through pub/sub). Default 5 s.
	CacheTTL time.Duration
	// OnError, if set, is called once per store operation that failed
	// because Redis could not answer (op: get, save, delete, delete_by_sid,
	// delete_by_sub, len, lock, first_use).
	OnError func(op string)
	// PendingRevocations bounds how many revocations Redis could not
	// confirm are remembered (refused here, retried). Default 10000.
	PendingRevocations int
	// RevocationRetryFor is how long such a revocation is retried and
	// refused here: at least the longest session lifetime. Default 24 h.
	RevocationRetryFor time.Duration
	Log                *slog.Logger
	// Now is the clock; tests may replace it.
	Now func() time.Time
}

// DefaultRedisPrefix is the key prefix when none is configured.
const DefaultRedisPrefix = "outpost:"

// subscriptionFresh is how recently the invalidation subscription must have
// been heard from (a message, a subscribe confirmation or a pong) for the
// cache to be used; pings go out more often than that.
const (
	subscriptionFresh = 900 * time.Millisecond
	subscriptionPing  = 250 * time.Millisecond
)

// RedisStore keeps sessions in Redis (one node, a Sentinel-managed master
// or a Redis Cluster), shared by every replica that uses the same Redis
// and prefix.
//
// Keys (P is the prefix, {b} a session's bucket tag, only on a cluster:
// redis_layout.go):
//
//	P{b}s:<id>    hash {d: the session's record (record.go), sid, sub, prov}, expires with the session (PEXPIREAT)
//	P{b}sid:<sid> set of the bucket's session ids of that sid; its expiry is kept ≥ its members'
//	P{b}sub:<sub> likewise, per subject
//	P{b}exp       sorted set id → expiry (ms), for Len without scanning
//	P lock:<k>  refresh locks;  P once:<k>  replay guard
//	P events    pub/sub channel: "r <origin> <ids…>" (revoked), "s <origin> <id>" (replaced)
//
// Every write is one Lua script over one bucket's keys, so indexes never
// disagree with sessions, and publishes its invalidation inside that
// script. On a cluster that is a plain PUBLISH, which Redis Cluster
// delivers to subscribers on every node.
type RedisStore struct {
	opts RedisOptions
	// client is the connection, whichever of the three kinds it is.
	client redis.UniversalClient
	// cluster is client when it is a Redis Cluster, else nil.
	cluster *redis.ClusterClient
	prefix  string
	keys    keyspace
	// shared: the read cache and its subscription's health, watchers,
	// pending revocations and the deletions (shared.go).
	shared

	ps     *redis.PubSub
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewRedisStore connects lazily: a Redis that is down at start makes
// operations fail (callers deny) until it is back.
func NewRedisStore(opts RedisOptions) (*RedisStore, error) {
	if opts.Prefix == "" {
		opts.Prefix = DefaultRedisPrefix
	}
	var (
		client  redis.UniversalClient
		cluster *redis.ClusterClient
		buckets = 1
	)
	set := 0
	for _, given := range []bool{opts.Client != nil, opts.Failover != nil, opts.Cluster != nil} {
		if given {
			set++
		}
	}
	switch {
	case set > 1:
		return nil, errors.New("redis store: more than one of Client, Failover and Cluster")
	case opts.Client != nil:
		client = redis.NewClient(opts.Client)
	case opts.Failover != nil:
		client = redis.NewFailoverClient(opts.Failover)
	case opts.Cluster != nil:
		if prefixHasHashTag(opts.Prefix) {
			return nil, fmt.Errorf("redis store: the prefix %q holds a brace, which on a Redis Cluster would replace the store's hash tags", opts.Prefix)
		}
		cluster = redis.NewClusterClient(opts.Cluster)
		client, buckets = cluster, clusterBuckets
	default:
		return nil, errors.New("redis store: no connection options")
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = 10000
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &RedisStore{
		opts:    opts,
		client:  client,
		cluster: cluster,
		prefix:  opts.Prefix,
		keys:    keyspace{prefix: opts.Prefix, buckets: buckets},
		ctx:     ctx,
		cancel:  cancel,
	}
	s.shared.init("redis", opts.Log, opts.CacheSize, opts.CacheTTL, opts.PendingRevocations, opts.RevocationRetryFor)
	s.remove = s.removeKeys
	s.ps = s.client.Subscribe(ctx, s.keys.channel())
	s.wg.Add(2)
	go s.subscribe()
	go s.retryPending()
	return s, nil
}

// Ping checks that Redis answers, for a start-up message: on a cluster,
// every master.
func (s *RedisStore) Ping(ctx context.Context) error {
	if s.cluster != nil {
		return s.cluster.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return c.Ping(ctx).Err() })
	}
	return s.client.Ping(ctx).Err()
}

func (s *RedisStore) fail(op string, err error) error {
	if s.opts.OnError != nil {
		s.opts.OnError(op)
	}
	return fmt.Errorf("session store (redis) %s: %w", op, err)
}

func (s *RedisStore) Get(ctx context.Context, id string) (*Session, error) {
	return s.get(ctx, id, s.opts.Now(), func(ctx context.Context) ([]byte, error) {
		raw, err := s.client.HGet(ctx, s.keys.session(id), "d").Bytes()
		if errors.Is(err, redis.Nil) {
			return nil, nil
		}
		if err != nil {
			return nil, s.fail("get", err)
		}
		return raw, nil
	})
}

// saveScript replaces a session and its index entries atomically.
// KEYS: the session hash, its bucket's expiry set, sid index set and sub
// index set. ARGV: the bucket's key start (tagged prefix), id, record,
// sid, sub, expiresAt ms, now ms, origin, provider, "1" to write only over
// a session that still exists (SaveIfExists: then -1 means it was gone,
// nothing written), and the pub/sub channel.
// The index sets the replaced session was in, and the sessions of the
// members it prunes, are named by stored data, so the script builds those
// names from the tagged prefix: they are in the same bucket, hence the
// same cluster slot, as the keys it was given.
// Each index set it adds to is pruned of ids whose session is gone
// (expired): all of them while the set is small, a random sample of
// pruneSample otherwise, so the work per Save stays bounded.
var saveScript = redis.NewScript(`
local p, id = ARGV[1], ARGV[2]
local exp, now = tonumber(ARGV[6]), tonumber(ARGV[7])
if ARGV[10] == '1' and redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local old = redis.call('HMGET', KEYS[1], 'sid', 'sub')
local existed = redis.call('DEL', KEYS[1])
if old[1] and old[1] ~= '' then redis.call('SREM', p..'sid:'..old[1], id) end
if old[2] and old[2] ~= '' then redis.call('SREM', p..'sub:'..old[2], id) end
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 100)
if #dead > 0 then redis.call('ZREM', KEYS[2], unpack(dead)) end
if exp <= now then
  redis.call('ZREM', KEYS[2], id)
else
  redis.call('HSET', KEYS[1], 'd', ARGV[3], 'sid', ARGV[4], 'sub', ARGV[5], 'prov', ARGV[9])
  redis.call('PEXPIREAT', KEYS[1], ARGV[6])
  redis.call('ZADD', KEYS[2], ARGV[6], id)
  for _, k in ipairs({ARGV[4] ~= '' and KEYS[3] or false, ARGV[5] ~= '' and KEYS[4] or false}) do
    if k then
      local ids
      if redis.call('SCARD', k) <= 64 then ids = redis.call('SMEMBERS', k) else ids = redis.call('SRANDMEMBER', k, 64) end
      for _, m in ipairs(ids) do
        if redis.call('EXISTS', p..'s:'..m) == 0 then redis.call('SREM', k, m) end
      end
      redis.call('SADD', k, id)
      local ttl = redis.call('PTTL', k)
      if ttl < 0 or now + ttl < exp then redis.call('PEXPIREAT', k, ARGV[6]) end
    end
  end
end
if existed == 1 then redis.call('PUBLISH', ARGV[11], 's '..ARGV[8]..' '..id) end
return existed
`)

func (s *RedisStore) Save(ctx context.Context, sess *Session) error {
	_, err := s.save(ctx, sess, false)
	return err
}

// SaveIfExists implements Store: the existence check is in the same
// script as the write, so a Delete on any replica either comes first (and
// nothing is written) or after (and removes the refreshed session).
func (s *RedisStore) SaveIfExists(ctx context.Context, sess *Session) (bool, error) {
	return s.save(ctx, sess, true)
}

func (s *RedisStore) save(ctx context.Context, sess *Session, mustExist bool) (bool, error) {
	if sess.ID == "" {
		return false, errNoID
	}
	if strings.ContainsAny(sess.ID, " \t\r\n") {
		return false, errors.New("session id contains white space")
	}
	raw, err := encodeRecord(sess)
	if err != nil {
		return false, fmt.Errorf("session store (redis) save: %w", err)
	}
	cond := "0"
	if mustExist {
		cond = "1"
	}
	b := s.keys.bucket(sess.ID)
	keys := []string{s.keys.session(sess.ID), s.keys.expirySet(b), s.keys.sidIndex(b, sess.SID), s.keys.subIndex(b, sess.Sub)}
	res, err := saveScript.Run(ctx, s.client, keys,
		s.keys.tagged(b), sess.ID, raw, sess.SID, sess.Sub, sess.ExpiresAt.UnixMilli(), s.opts.Now().UnixMilli(), s.origin, sess.Provider, cond, s.keys.channel()).Int()
	s.saved(sess.ID)
	if err != nil {
		return false, s.fail("save", err)
	}
	return res != -1, nil
}

var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Lock implements Locker across replicas (SET NX PX, released only by its
// holder).
func (s *RedisStore) Lock(ctx context.Context, key string, ttl time.Duration) (func(), error) {
	k := s.keys.lock(key)
	return s.pollLock(ctx, ttl, func(ctx context.Context, token string) (bool, error) {
		ok, err := s.client.SetNX(ctx, k, token, ttl).Result()
		if err != nil && ctx.Err() == nil {
			return false, s.fail("lock", err)
		}
		return ok, err
	}, func(ctx context.Context, token string) error {
		return unlockScript.Run(ctx, s.client, []string{k}, token).Err()
	})
}

// FirstUse implements ReplayGuard across replicas.
func (s *RedisStore) FirstUse(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	ok, err := s.client.SetNX(ctx, s.keys.once(key), "1", ttl).Result()
	if err != nil {
		return false, s.fail("first_use", err)
	}
	return ok, nil
}

// Forget implements ReplayGuard.
func (s *RedisStore) Forget(ctx context.Context, key string) error {
	if err := s.client.Del(ctx, s.keys.once(key)).Err(); err != nil {
		return s.fail("forget", err)
	}
	return nil
}

func (s *RedisStore) Close() error {
	s.cancel()
	_ = s.ps.Close() // interrupts a receive in progress
	s.wg.Wait()
	return s.client.Close()
}

// subscribe keeps the invalidation subscription, marks it down on any
// failure (the cache is bypassed until it is back) and empties the cache
// whenever it (re)subscribes, since messages may have been missed.
func (s *RedisStore) subscribe() {
	defer s.wg.Done()
	ps := s.ps
	backoff := 50 * time.Millisecond
	down := func(err error) {
		if s.subUp.Swap(false) {
			s.log.Warn("session invalidation subscription lost; reading every session from redis until it is back", "error", err)
		}
		s.feedDown()
	}
	for s.ctx.Err() == nil {
		msg, err := ps.ReceiveTimeout(s.ctx, subscriptionPing)
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			if isTimeout(err) {
				if perr := ps.Ping(s.ctx); perr != nil {
					down(perr)
				} else if s.feedQuiet() {
					// Stalled, not failed: revocations may be lost all the same.
					s.feedDown()
				}
				continue
			}
			down(err)
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				if s.cache != nil {
					s.cache.clear()
				}
				s.lastHeard.Store(time.Now().UnixNano())
				if !s.subUp.Swap(true) {
					s.log.Debug("session invalidation subscription up")
				}
				s.feedHeard()
			}
		case *redis.Pong:
			s.lastHeard.Store(time.Now().UnixNano())
			s.feedHeard()
		case *redis.Message:
			s.lastHeard.Store(time.Now().UnixNano())
			s.handle(m.Payload)
			s.feedHeard()
		}
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
