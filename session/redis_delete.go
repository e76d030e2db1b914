package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// deleteLua removes the sessions whose ids are in the table ids, with their
// index and expiry entries, collecting the ids that existed in removed. p
// is the bucket's tagged prefix and expiry its expiry set: the sessions and
// the index sets named by their fields are all in that bucket (one slot).
const deleteLua = `
local removed = {}
local function remove(id)
  local k = p..'s:'..id
  local f = redis.call('HMGET', k, 'sid', 'sub')
  if f[1] and f[1] ~= '' then redis.call('SREM', p..'sid:'..f[1], id) end
  if f[2] and f[2] ~= '' then redis.call('SREM', p..'sub:'..f[2], id) end
  redis.call('ZREM', expiry, id)
  if redis.call('DEL', k) == 1 then removed[#removed+1] = id end
end
`

const publishRemovedLua = `
if #removed > 0 then redis.call('PUBLISH', channel, 'r '..origin..' '..table.concat(removed, ' ')) end
`

// deleteScript removes one session. KEYS: the session hash, its bucket's
// expiry set. ARGV: the bucket's tagged prefix, origin, id, channel.
var deleteScript = redis.NewScript(`
local p, origin, expiry, channel = ARGV[1], ARGV[2], KEYS[2], ARGV[4]
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

// deleteIndexScript deletes one chunk of an index set. KEYS: the index
// set, its bucket's expiry set. ARGV: the bucket's tagged prefix, origin,
// a provider (when not empty only its sessions go), the SSCAN cursor, the
// chunk size, channel. Every member it looks at leaves the set: its
// session is removed, or was already gone; only another provider's stay.
// Returns {next cursor ("0": done), removed ids}. The set is never deleted
// whole: a session added to it while the chunks run keeps its entry.
var deleteIndexScript = redis.NewScript(`
local p, origin, prov, expiry, channel = ARGV[1], ARGV[2], ARGV[3], KEYS[2], ARGV[6]
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
// the index sets of a sid or a subject.
func (s *RedisStore) removeKeys(ctx context.Context, op string, r revocation) (int, error) {
	if r.id != "" {
		b := s.keys.bucket(r.id)
		removed, err := deleteScript.Run(ctx, s.client, []string{s.keys.session(r.id), s.keys.expirySet(b)},
			s.keys.tagged(b), s.origin, r.id, s.keys.channel()).StringSlice()
		if err != nil {
			return 0, s.fail(op, err)
		}
		s.removed(removed)
		return len(removed), nil
	}
	index := func(b int) string { return s.keys.subIndex(b, r.sub) }
	if r.sid != "" {
		index = func(b int) string { return s.keys.sidIndex(b, r.sid) }
	}
	return s.deleteIndexed(ctx, op, index, r.provider)
}

// deleteIndexed removes the sessions in the index sets index names, one
// per bucket (only provider's unless provider is ""), one bounded chunk
// per script call; on a cluster each round is one pipeline over every
// bucket still being worked through. Each chunk's removals are announced
// as it completes; an error stops it midway, with the chunks before it
// done.
func (s *RedisStore) deleteIndexed(ctx context.Context, op string, index func(b int) string, provider string) (int, error) {
	cursors := make(map[int]string, s.keys.buckets)
	for b := range s.keys.buckets {
		cursors[b] = "0"
	}
	n := 0
	for len(cursors) > 0 {
		calls := make([]bucketCall, 0, len(cursors))
		for b, cursor := range cursors {
			calls = append(calls, bucketCall{bucket: b, keys: []string{index(b), s.keys.expirySet(b)},
				args: []any{s.keys.tagged(b), s.origin, provider, cursor, deleteIndexChunk, s.keys.channel()}})
		}
		var firstErr error
		for i, cmd := range s.runInBuckets(ctx, deleteIndexScript, calls) {
			res, err := cmd.Slice()
			var next string
			var removed []string
			if err == nil {
				next, removed, err = parseChunk(res)
			}
			if err != nil {
				firstErr = errors.Join(firstErr, err)
				continue
			}
			s.removed(removed)
			n += len(removed)
			if next == "0" {
				delete(cursors, calls[i].bucket)
			} else {
				cursors[calls[i].bucket] = next
			}
		}
		if firstErr != nil {
			return n, s.fail(op, firstErr)
		}
	}
	return n, nil
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
