package session

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"sync"
	"time"
)

// A record is one session as both stores keep it: the memory store as a
// string per session (one allocation the collector never scans), Redis as
// the hash field d. Layout:
//
//	version byte (recordVersion), flags byte (flagCompressed, flagAccessJWT, flagIDJWT)
//	ID, Provider, Sub, SID: each uvarint length + bytes, in the clear so
//	  that the indexes read them without decoding the rest (readRecordKeys)
//	CreatedAt, TokenExpiry, ExpiresAt: each a kind byte (timeZero, timeUTC,
//	  timeLocal: any location but UTC comes back as Local), then unless zero
//	  varint unix seconds and uvarint nanoseconds
//	the signatures of the tokens that are split: uvarint length + raw bytes
//	the body's length (uvarint), then the body, to the end: DEFLATE with
//	  recordDict (flagCompressed) or as it is
//
// The body is the claims as JSON, the access and the ID token, and the
// refresh token, each uvarint length + bytes; a token that is a compact JWT
// is kept as its decoded header and payload (two fields), its signature
// going in the clear part. A JWT's payload repeats most of the claims, so
// compressing them together stores that once; signatures are random and
// would not compress. The body is compressed only when that makes it
// smaller.
const recordVersion = 1

const (
	flagCompressed = 1 << iota
	flagAccessJWT
	flagIDJWT
)

const (
	timeZero = iota
	timeUTC
	timeLocal
)

var (
	errBadRecord = errors.New("session record is corrupt")
	errTooLarge  = errors.New("session is too large for a record")
)

// maxRecordBody bounds a session's body: a corrupt record could otherwise
// inflate without end, and no real session comes near.
const maxRecordBody = 16 << 20

// encodeRecord packs s. Claims must be JSON-encodable: they come back as
// encoding/json decodes them (numbers float64, arrays []any), which is how
// the proxy's verified claims always look.
func encodeRecord(s *Session) (string, error) {
	claims, err := json.Marshal(s.Claims)
	if err != nil {
		return "", err
	}
	buf := scratchPool.Get().(*recordScratch)
	defer buf.release()
	body := appendField(buf.body[:0], claims)
	var flags byte
	var sigs [2][]byte
	for i, tok := range []string{s.AccessToken, s.IDToken} {
		if header, payload, sig, ok := splitJWT(tok); ok {
			flags |= flagAccessJWT << i
			body = appendField(appendField(body, header), payload)
			sigs[i] = sig
		} else {
			body = appendField(body, tok)
		}
	}
	body = appendField(body, s.RefreshToken)
	buf.body = body
	if len(body) > maxRecordBody {
		return "", errTooLarge
	}

	rec := append(buf.out[:0], recordVersion, 0)
	for _, f := range []string{s.ID, s.Provider, s.Sub, s.SID} {
		rec = appendField(rec, f)
	}
	for _, t := range []time.Time{s.CreatedAt, s.TokenExpiry, s.ExpiresAt} {
		rec = appendTime(rec, t)
	}
	for _, sig := range sigs {
		if sig != nil {
			rec = appendField(rec, sig)
		}
	}
	rec = binary.AppendUvarint(rec, uint64(len(body)))
	if packed := deflateBody(rec, body); len(packed)-len(rec) < len(body) {
		rec, flags = packed, flags|flagCompressed
	} else {
		rec = append(rec, body...)
	}
	rec[1] = flags
	buf.out = rec
	return string(rec), nil
}

func appendTime(b []byte, t time.Time) []byte {
	switch {
	case t.IsZero():
		return append(b, timeZero)
	case t.Location() == time.UTC:
		b = append(b, timeUTC)
	default:
		b = append(b, timeLocal)
	}
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

func appendField[T string | []byte](b []byte, f T) []byte {
	return append(binary.AppendUvarint(b, uint64(len(f))), f...)
}

// recordKeys are what the indexes need of a record, sharing its memory.
type recordKeys struct{ id, provider, sub, sid string }

// readRecordKeys reads the keys at the start of rec; r is left after them.
func readRecordKeys(rec string) (k recordKeys, r recordReader[string], err error) {
	r = recordReader[string]{s: rec}
	if r.byte() != recordVersion {
		return k, r, errBadRecord
	}
	r.byte() // flags
	k.id, k.provider, k.sub, k.sid = r.field(), r.field(), r.field(), r.field()
	if r.bad {
		return k, r, errBadRecord
	}
	return k, r, nil
}

// decodeRecord unpacks rec into a new session. Its ID, Provider, Sub and
// SID share rec's memory.
func decodeRecord(rec string) (*Session, error) {
	k, r, err := readRecordKeys(rec)
	if err != nil {
		return nil, err
	}
	flags := rec[1]
	s := &Session{ID: k.id, Provider: k.provider, Sub: k.sub, SID: k.sid}
	for _, t := range []*time.Time{&s.CreatedAt, &s.TokenExpiry, &s.ExpiresAt} {
		*t = r.time()
	}
	var sigs [2][]byte
	for i := range sigs {
		if flags&(flagAccessJWT<<i) != 0 {
			sigs[i] = []byte(r.field())
		}
	}
	n, rest := r.uvarint(), rec[r.off:]
	// DEFLATE expands at most 1032 times (a 258-byte match in two bits):
	// a corrupt length is refused before anything is allocated for it.
	if r.bad || flags&^(flagCompressed|flagAccessJWT|flagIDJWT) != 0 || n > maxRecordBody || n > 1032*uint64(len(rest)) {
		return nil, errBadRecord
	}
	buf := scratchPool.Get().(*recordScratch)
	defer buf.release()
	if flags&flagCompressed != 0 {
		if buf.body, err = inflateBody(buf.body[:0], rest, int(n)); err != nil {
			return nil, err
		}
	} else if buf.body = append(buf.body[:0], rest...); len(buf.body) != int(n) {
		return nil, errBadRecord
	}
	b := recordReader[[]byte]{s: buf.body}
	claims := b.field()
	// The tokens and the refresh token are put together in buf.out, then
	// copied into one string.
	out := buf.out[:0]
	var ends [2]int
	for i := range ends {
		if flags&(flagAccessJWT<<i) != 0 {
			header, payload := b.field(), b.field()
			out = appendJWT(out, header, payload, sigs[i])
		} else {
			out = append(out, b.field()...)
		}
		ends[i] = len(out)
	}
	out = append(out, b.field()...)
	buf.out = out
	if b.bad || b.off != len(b.s) {
		return nil, errBadRecord
	}
	all := string(out)
	s.AccessToken, s.IDToken, s.RefreshToken = all[:ends[0]], all[ends[0]:ends[1]], all[ends[1]:]
	if err := json.Unmarshal(claims, &s.Claims); err != nil {
		return nil, errBadRecord
	}
	return s, nil
}

// recordScratch is the scratch space of one encodeRecord or decodeRecord,
// reused: the body, and the record being built (encoding) or the tokens
// put together again (decoding). Only the strings made of it are kept.
type recordScratch struct{ body, out []byte }

var scratchPool = sync.Pool{New: func() any { return new(recordScratch) }}

// release returns b to the pool unless a session made it unusually large.
func (b *recordScratch) release() {
	if cap(b.body)+cap(b.out) <= 64<<10 {
		scratchPool.Put(b)
	}
}

// recordReader reads the fields of a record or a body; a read past the end
// or a malformed length sets bad and yields zero values.
type recordReader[T string | []byte] struct {
	s   T
	off int
	bad bool
}

func (r *recordReader[T]) byte() byte {
	if r.off >= len(r.s) {
		r.bad = true
		return 0
	}
	r.off++
	return r.s[r.off-1]
}

func (r *recordReader[T]) uvarint() uint64 {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		c := r.byte()
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
	r.bad = true
	return 0
}

func (r *recordReader[T]) varint() int64 {
	u := r.uvarint()
	return int64(u>>1) ^ -int64(u&1) // zigzag, as binary.AppendVarint writes it
}

// time reads what appendTime wrote.
func (r *recordReader[T]) time() time.Time {
	kind := r.byte()
	if kind == timeZero {
		return time.Time{}
	}
	sec, nsec := r.varint(), r.uvarint()
	if nsec >= 1e9 || kind > timeLocal {
		r.bad = true
		return time.Time{}
	}
	t := time.Unix(sec, int64(nsec))
	if kind == timeUTC {
		t = t.UTC()
	}
	return t
}

// field is the next length-prefixed field, sharing r.s's memory.
func (r *recordReader[T]) field() T {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.s)-r.off) {
		r.bad = true
		var zero T
		return zero
	}
	r.off += int(n)
	return r.s[r.off-int(n) : r.off]
}
