package session

import (
	"strconv"
	"strings"
)

// keyspace names the Redis store's keys.
//
// On one node, or the master a Sentinel points at, there is one bucket and
// the keys are those earlier versions wrote (P is the prefix):
//
//	P s:<id>  P sid:<sid>  P sub:<sub>  P exp
//
// A Redis Cluster routes a script call by its keys, and every key of one
// call must hash to one slot. A session's key, the index sets that name it
// and the expiry set it is counted in are therefore put in one of
// clusterBuckets buckets, chosen from the session id, whose hash tag is in
// every one of those keys:
//
//	P{b}s:<id>  P{b}sid:<sid>  P{b}sub:<sub>  P{b}exp
//
// Grouping by subject instead would keep a person's sessions in one slot,
// but a read knows only the session id (the cookie names nothing else), so
// the slot must follow from the id. Deleting by sid or sub, and counting,
// visit every bucket, pipelined per node (redis_buckets.go).
//
// Locks, replay-guard keys and the pub/sub channel are single keys and keep
// their names everywhere: P lock:<k>, P once:<k>, P events.
type keyspace struct {
	prefix  string
	buckets int // 1: no hash tags
}

// clusterBuckets is how many buckets a cluster's sessions are spread over:
// enough that the slots they hash to share the data evenly among a
// cluster's masters (256 buckets over 3 masters: within about 10 % of even),
// few enough that a sign-out visiting all of them is one pipeline of small
// script calls per master. Changing it moves every session to another key:
// everyone would sign in again once.
const clusterBuckets = 256

// bucket is the bucket of a session id: FNV-1a, so every replica and every
// version agrees.
func (k keyspace) bucket(id string) int {
	if k.buckets <= 1 {
		return 0
	}
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return int(h % uint32(k.buckets))
}

// tagged is what starts bucket b's keys: the prefix, then the bucket's
// hash tag on a cluster.
func (k keyspace) tagged(b int) string {
	if k.buckets <= 1 {
		return k.prefix
	}
	return k.prefix + "{" + strconv.Itoa(b) + "}"
}

func (k keyspace) session(id string) string {
	if k.buckets <= 1 {
		return k.prefix + "s:" + id
	}
	return k.tagged(k.bucket(id)) + "s:" + id
}

func (k keyspace) sidIndex(b int, sid string) string { return k.tagged(b) + "sid:" + sid }
func (k keyspace) subIndex(b int, sub string) string { return k.tagged(b) + "sub:" + sub }
func (k keyspace) expirySet(b int) string            { return k.tagged(b) + "exp" }
func (k keyspace) lock(key string) string            { return k.prefix + "lock:" + key }
func (k keyspace) once(key string) string            { return k.prefix + "once:" + key }
func (k keyspace) channel() string                   { return k.prefix + "events" }

// prefixHasHashTag reports whether a prefix holds a brace: on a cluster it
// would take the place of the buckets' hash tags (Redis hashes the first
// {...} of a key), putting every session in one slot, or splitting one
// session's keys over several.
func prefixHasHashTag(prefix string) bool { return strings.ContainsAny(prefix, "{}") }
