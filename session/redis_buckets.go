package session

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// bucketCall is one script call over one bucket's keys.
type bucketCall struct {
	bucket int
	keys   []string
	args   []any
}

// runInBuckets runs one script call per bucket in one pipeline: on a
// cluster the client splits it by node and sends each node its part at
// once, so visiting every bucket costs one round trip per master. A node
// that has not cached the script yet (new, restarted or failed over)
// answers NOSCRIPT; those calls are sent again with the script's text.
// Every returned command has its reply or its error.
func (s *RedisStore) runInBuckets(ctx context.Context, script *redis.Script, calls []bucketCall) []*redis.Cmd {
	cmds := make([]*redis.Cmd, len(calls))
	_, _ = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range calls {
			cmds[i] = script.EvalSha(ctx, p, c.keys, c.args...)
		}
		return nil
	})
	var again []int
	for i, cmd := range cmds {
		if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") || errors.Is(cmd.Err(), redis.ErrNoScript) {
			again = append(again, i)
		}
	}
	if len(again) == 0 {
		return cmds
	}
	_, _ = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, i := range again {
			cmds[i] = script.Eval(ctx, p, calls[i].keys, calls[i].args...)
		}
		return nil
	})
	return cmds
}

// lenScript counts the live entries of one bucket's expiry set, dropping
// at most 1000 dead ones per call: the count never waits on a backlog.
var lenScript = redis.NewScript(`
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1000)
if #dead > 0 then redis.call('ZREM', KEYS[1], unpack(dead)) end
return redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[1], '+inf')
`)

// Len counts the live sessions, bucket by bucket.
func (s *RedisStore) Len(ctx context.Context) (int, error) {
	now := s.opts.Now().UnixMilli()
	calls := make([]bucketCall, s.keys.buckets)
	for b := range calls {
		calls[b] = bucketCall{bucket: b, keys: []string{s.keys.expirySet(b)}, args: []any{now}}
	}
	total := 0
	for _, cmd := range s.runInBuckets(ctx, lenScript, calls) {
		n, err := cmd.Int()
		if err != nil {
			return 0, s.fail("len", err)
		}
		total += n
	}
	return total, nil
}
