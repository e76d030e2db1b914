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
	// Client is the connection: address, credentials, database, TLS,
	// timeouts.
	Client *redis.Options
	// Prefix starts every key and the pub/sub channel, so several outpost
	// deployments can share one Redis. Default "outpost:".
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

// RedisStore keeps sessions in Redis, shared by every replica that uses the
// same Redis and prefix.
//
// Keys (P is the prefix):
//
//	P s:<id>    hash {d: the session's record (record.go), sid, sub, prov}, expires with the session (PEXPIREAT)
//	P sid:<sid> set of session ids; its expiry is kept ≥ its members'
//	P sub:<sub> set of session ids; likewise
//	P exp       sorted set id → expiry (ms), for Len without scanning
//	P lock:<k>  refresh locks;  P once:<k>  replay guard
//	P events    pub/sub channel: "r <origin> <ids…>" (revoked), "s <origin> <id>" (replaced)
//
// Every write is one Lua script, so indexes never disagree with sessions,
// and publishes its invalidation inside that script.
type RedisStore struct {
	opts   RedisOptions
	client *redis.Client
	prefix string
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
	if opts.Client == nil {
		return nil, errors.New("redis store: no connection options")
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultRedisPrefix
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
		opts:   opts,
		client: redis.NewClient(opts.Client),
		prefix: opts.Prefix,
		ctx:    ctx,
		cancel: cancel,
	}
	s.shared.init("redis", opts.Log, opts.CacheSize, opts.CacheTTL, opts.PendingRevocations, opts.RevocationRetryFor)
	s.remove = s.removeKeys
	s.ps = s.client.Subscribe(ctx, s.channel())
	s.wg.Add(2)
	go s.subscribe()
	go s.retryPending()
	return s, nil
}

// Ping checks that Redis answers, for a start-up message.
func (s *RedisStore) Ping(ctx context.Context) error { return s.client.Ping(ctx).Err() }

func (s *RedisStore) sessionKey(id string) string { return s.prefix + "s:" + id }
func (s *RedisStore) channel() string             { return s.prefix + "events" }

func (s *RedisStore) fail(op string, err error) error {
	if s.opts.OnError != nil {
		s.opts.OnError(op)
	}
	return fmt.Errorf("session store (redis) %s: %w", op, err)
}

func (s *RedisStore) Get(ctx context.Context, id string) (*Session, error) {
	return s.get(ctx, id, s.opts.Now(), func(ctx context.Context) ([]byte, error) {
		raw, err := s.client.HGet(ctx, s.sessionKey(id), "d").Bytes()
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
// KEYS[1] session hash. ARGV: prefix, id, record, sid, sub, expiresAt ms,
// now ms, origin, provider, and "1" to write only over a session that
// still exists (SaveIfExists: then -1 means it was gone, nothing written).
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
local dead = redis.call('ZRANGEBYSCORE', p..'exp', '-inf', now, 'LIMIT', 0, 100)
if #dead > 0 then redis.call('ZREM', p..'exp', unpack(dead)) end
if exp <= now then
  redis.call('ZREM', p..'exp', id)
else
  redis.call('HSET', KEYS[1], 'd', ARGV[3], 'sid', ARGV[4], 'sub', ARGV[5], 'prov', ARGV[9])
  redis.call('PEXPIREAT', KEYS[1], ARGV[6])
  redis.call('ZADD', p..'exp', ARGV[6], id)
  for _, k in ipairs({ARGV[4] ~= '' and p..'sid:'..ARGV[4] or false, ARGV[5] ~= '' and p..'sub:'..ARGV[5] or false}) do
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
if existed == 1 then redis.call('PUBLISH', p..'events', 's '..ARGV[8]..' '..id) end
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
	res, err := saveScript.Run(ctx, s.client, []string{s.sessionKey(sess.ID)},
		s.prefix, sess.ID, raw, sess.SID, sess.Sub, sess.ExpiresAt.UnixMilli(), s.opts.Now().UnixMilli(), s.origin, sess.Provider, cond).Int()
	s.saved(sess.ID)
	if err != nil {
		return false, s.fail("save", err)
	}
	return res != -1, nil
}

// deleteLua removes the sessions whose ids are in the table ids, with their
// index and expiry entries, collecting the ids that existed in removed.
const deleteLua = `
local removed = {}
local function remove(id)
  local k = p..'s:'..id
  local f = redis.call('HMGET', k, 'sid', 'sub')
  if f[1] and f[1] ~= '' then redis.call('SREM', p..'sid:'..f[1], id) end
  if f[2] and f[2] ~= '' then redis.call('SREM', p..'sub:'..f[2], id) end
  redis.call('ZREM', p..'exp', id)
  if redis.call('DEL', k) == 1 then removed[#removed+1] = id end
end
`

const publishRemovedLua = `
if #removed > 0 then redis.call('PUBLISH', p..'events', 'r '..origin..' '..table.concat(removed, ' ')) end
`

// deleteScript: ARGV prefix, origin, id.
var deleteScript = redis.NewScript(`
local p, origin = ARGV[1], ARGV[2]
` + deleteLua + `
remove(ARGV[3])
` + publishRemovedLua + `
return removed
`)

// deleteIndexChunk is how many members of an index set one call of
// deleteIndexScript looks at (SSCAN's COUNT, a hint): a set of any size
// is deleted in calls of bounded work, so one sign-out never blocks Redis
// for long. Small sets come back whole from one SSCAN: one call.
const deleteIndexChunk = 200

// deleteIndexScript deletes one chunk of an index set. KEYS[1] the index
// set; ARGV prefix, origin, a provider (when not empty only its sessions
// go), and the SSCAN cursor. Every member it looks at leaves the set: its
// session is removed, or was already gone; only another provider's stay.
// Returns {next cursor ("0": done), removed ids}. The set is never deleted
// whole: a session added to it while the chunks run keeps its entry.
var deleteIndexScript = redis.NewScript(`
local p, origin, prov = ARGV[1], ARGV[2], ARGV[3]
` + deleteLua + `
local scan = redis.call('SSCAN', KEYS[1], ARGV[4], 'COUNT', ARGV[5])
for _, id in ipairs(scan[2]) do
  local owner = redis.call('HGET', p..'s:'..id, 'prov')
  if not owner then
    redis.call('SREM', KEYS[1], id)
  elseif prov == '' or owner == prov then
    remove(id)
  end
end
` + publishRemovedLua + `
return {scan[1], removed}
`)

// removeKeys implements shared.remove: one session by its id, or those in
// an index set.
func (s *RedisStore) removeKeys(ctx context.Context, op string, r revocation) (int, error) {
	switch {
	case r.id != "":
		removed, err := deleteScript.Run(ctx, s.client, []string{}, s.prefix, s.origin, r.id).StringSlice()
		if err != nil {
			return 0, s.fail(op, err)
		}
		s.removed(removed)
		return len(removed), nil
	case r.sid != "":
		return s.deleteIndexed(ctx, op, s.prefix+"sid:"+r.sid, r.provider)
	}
	return s.deleteIndexed(ctx, op, s.prefix+"sub:"+r.sub, r.provider)
}

// deleteIndexed removes the sessions in index set key (only provider's
// unless provider is ""), one bounded chunk per script call. Each chunk's
// removals are announced as it completes; an error stops it midway, with
// the chunks before it done.
func (s *RedisStore) deleteIndexed(ctx context.Context, op, key, provider string) (int, error) {
	n, cursor := 0, "0"
	for {
		res, err := deleteIndexScript.Run(ctx, s.client, []string{key}, s.prefix, s.origin, provider, cursor, deleteIndexChunk).Slice()
		if err != nil {
			return n, s.fail(op, err)
		}
		next, removed, err := parseChunk(res)
		if err != nil {
			return n, s.fail(op, err)
		}
		s.removed(removed)
		n += len(removed)
		if cursor = next; cursor == "0" {
			return n, nil
		}
	}
}

func parseChunk(res []any) (cursor string, removed []string, err error) {
	if len(res) != 2 {
		return "", nil, fmt.Errorf("unexpected delete reply %v", res)
	}
	cursor, ok := res[0].(string)
	ids, ok2 := res[1].([]any)
	if !ok || !ok2 {
		return "", nil, fmt.Errorf("unexpected delete reply %v", res)
	}
	removed = make([]string, 0, len(ids))
	for _, id := range ids {
		if s, ok := id.(string); ok {
			removed = append(removed, s)
		}
	}
	return cursor, removed, nil
}

// lenScript counts the live entries of the expiry set, dropping at most
// 1000 dead ones per call: the count never waits on a backlog.
var lenScript = redis.NewScript(`
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1000)
if #dead > 0 then redis.call('ZREM', KEYS[1], unpack(dead)) end
return redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[1], '+inf')
`)

func (s *RedisStore) Len(ctx context.Context) (int, error) {
	n, err := lenScript.Run(ctx, s.client, []string{s.prefix + "exp"}, s.opts.Now().UnixMilli()).Int()
	if err != nil {
		return 0, s.fail("len", err)
	}
	return n, nil
}

var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Lock implements Locker across replicas (SET NX PX, released only by its
// holder).
func (s *RedisStore) Lock(ctx context.Context, key string, ttl time.Duration) (func(), error) {
	k := s.prefix + "lock:" + key
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
	ok, err := s.client.SetNX(ctx, s.prefix+"once:"+key, "1", ttl).Result()
	if err != nil {
		return false, s.fail("first_use", err)
	}
	return ok, nil
}

// Forget implements ReplayGuard.
func (s *RedisStore) Forget(ctx context.Context, key string) error {
	if err := s.client.Del(ctx, s.prefix+"once:"+key).Err(); err != nil {
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
