package session

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"time"
)

// A record is one session as the memory store keeps it when it is not in
// use: one immutable string, so a stored session is one allocation that the
// garbage collector never scans. Layout:
//
//	version byte, flags byte (token kinds, time kinds)
//	uvarint len + ID (kept plain: the store's map key is this substring)
//	CreatedAt, TokenExpiry, ExpiresAt: varint seconds + uvarint nanoseconds, unless zero
//	  (the instant, in UTC if it was; any other location comes back as Local)
//	the JWT signatures of the access and ID token: uvarint len + raw bytes
//	the rest: DEFLATE with recordDict of the body
//
// The body is Sub, SID, the claims as JSON, the access and ID token (a JWT
// as its decoded header and payload, anything else as it is) and the
// refresh token, each uvarint len + bytes. A JWT's payload repeats most of
// the claims, so compressing them together stores that once; signatures are
// random and stay out of the compressor. The provider is not in the record
// (the store interns it).
const recordVersion = 1

const (
	flagAccessJWT = 1 << iota
	flagIDJWT
)

// Each time takes two bits of the flags from bit 2 on.
const (
	timeZero  = 0
	timeLocal = 1
	timeUTC   = 2
)

var errBadRecord = errors.New("session record is corrupt")

// encodeRecord packs s. Claims must be JSON-encodable: they come back as
// encoding/json decodes them (numbers float64, arrays []any), which is how
// the proxy's verified claims always look.
func encodeRecord(s *Session) (string, error) {
	claims, err := json.Marshal(s.Claims)
	if err != nil {
		return "", err
	}
	body := bufPool.Get().(*bytes.Buffer)
	defer putBuf(body)
	body.Reset()
	var flags byte
	putBytes(body, s.Sub)
	putBytes(body, s.SID)
	putBytes(body, claims)
	var sigs [2][]byte
	for i, t := range []string{s.AccessToken, s.IDToken} {
		if h, p, sig, ok := splitJWT(t); ok {
			flags |= flagAccessJWT << i
			putBytes(body, h)
			putBytes(body, p)
			sigs[i] = sig
		} else {
			putBytes(body, t)
		}
	}
	putBytes(body, s.RefreshToken)

	out := bufPool.Get().(*bytes.Buffer)
	defer putBuf(out)
	out.Reset()
	out.WriteByte(recordVersion)
	out.WriteByte(0) // flags, set below
	putBytes(out, s.ID)
	for i, t := range []time.Time{s.CreatedAt, s.TokenExpiry, s.ExpiresAt} {
		kind := byte(timeLocal)
		switch {
		case t.IsZero():
			kind = timeZero
		case t.Location() == time.UTC:
			kind = timeUTC
		}
		flags |= kind << (2 + 2*i)
		if kind != timeZero {
			out.Write(binary.AppendVarint(out.AvailableBuffer(), t.Unix()))
			out.Write(binary.AppendUvarint(out.AvailableBuffer(), uint64(t.Nanosecond())))
		}
	}
	for i, sig := range sigs {
		if flags&(flagAccessJWT<<i) != 0 {
			putBytes(out, sig)
		}
	}
	zw := writerPool.Get().(*flate.Writer)
	zw.Reset(out)
	_, _ = zw.Write(body.Bytes()) // writes to a bytes.Buffer do not fail
	_ = zw.Close()
	writerPool.Put(zw)
	b := out.Bytes()
	b[1] = flags
	return string(b), nil // the one allocation a stored session costs
}

// recordID is the session id inside rec, sharing its memory.
func recordID(rec string) string {
	r := recordReader[string]{s: rec, off: 2}
	return r.str()
}

// decodeRecord unpacks rec into a new session of provider.
func decodeRecord(rec, provider string) (*Session, error) {
	r := recordReader[string]{s: rec}
	if r.byte() != recordVersion {
		return nil, errBadRecord
	}
	flags := r.byte()
	s := &Session{ID: r.str(), Provider: provider}
	for i, t := range []*time.Time{&s.CreatedAt, &s.TokenExpiry, &s.ExpiresAt} {
		switch (flags >> (2 + 2*i)) & 3 {
		case timeLocal:
			*t = time.Unix(r.varint(), int64(r.uvarint()))
		case timeUTC:
			*t = time.Unix(r.varint(), int64(r.uvarint())).UTC()
		}
	}
	var sigs [2]string
	for i := range sigs {
		if flags&(flagAccessJWT<<i) != 0 {
			sigs[i] = r.str()
		}
	}
	if r.bad {
		return nil, errBadRecord
	}
	body := bufPool.Get().(*bytes.Buffer)
	defer putBuf(body)
	if err := inflate(body, rec[r.off:], -1); err != nil {
		return nil, err
	}
	b := recordReader[[]byte]{s: body.Bytes()}
	sub, sid, claims := b.str(), b.str(), b.str()
	var parts [2][2][]byte // header and payload of JWTs, the whole token otherwise
	size := len(sub) + len(sid)
	for i := range parts {
		parts[i][0] = b.str()
		if flags&(flagAccessJWT<<i) != 0 {
			parts[i][1] = b.str()
			size += jwtLen(len(parts[i][0]), len(parts[i][1]), len(sigs[i]))
		} else {
			size += len(parts[i][0])
		}
	}
	refresh := b.str()
	size += len(refresh)
	if b.bad || b.off != len(b.s) {
		return nil, errBadRecord
	}
	// All of the session's strings share one allocation of exactly their
	// size; the body buffer goes back to the pool.
	var sb strings.Builder
	sb.Grow(size)
	scratch := bufPool.Get().(*bytes.Buffer)
	defer putBuf(scratch)
	var at [6]int
	sb.Write(sub)
	at[0] = sb.Len()
	sb.Write(sid)
	at[1] = sb.Len()
	for i := range parts {
		if flags&(flagAccessJWT<<i) != 0 {
			scratch.Reset()
			scratch.Write(appendJWT(scratch.AvailableBuffer(), parts[i][0], parts[i][1], sigs[i]))
			sb.Write(scratch.Bytes())
		} else {
			sb.Write(parts[i][0])
		}
		at[2+i] = sb.Len()
	}
	sb.Write(refresh)
	all := sb.String()
	s.Sub, s.SID = all[:at[0]], all[at[0]:at[1]]
	s.AccessToken, s.IDToken = all[at[1]:at[2]], all[at[2]:at[3]]
	s.RefreshToken = all[at[3]:]
	if err := json.Unmarshal(claims, &s.Claims); err != nil {
		return nil, errBadRecord
	}
	return s, nil
}

// recordKeys is the Sub and SID of rec, read from the start of the body
// without inflating the rest.
func recordKeys(rec string) (sub, sid string, err error) {
	r := recordReader[string]{s: rec, off: 1}
	flags := r.byte()
	r.str() // id
	for i := range 3 {
		if (flags>>(2+2*i))&3 != timeZero {
			r.varint()
			r.uvarint()
		}
	}
	for i := range 2 {
		if flags&(flagAccessJWT<<i) != 0 {
			r.str()
		}
	}
	if r.bad {
		return "", "", errBadRecord
	}
	body := bufPool.Get().(*bytes.Buffer)
	defer putBuf(body)
	// Two lengths and two keys of up to 240 bytes each fit in 512; longer
	// keys are rare enough to inflate it all.
	for _, limit := range []int{512, -1} {
		if err := inflate(body, rec[r.off:], limit); err != nil {
			return "", "", err
		}
		b := recordReader[[]byte]{s: body.Bytes()}
		k1, k2 := b.str(), b.str()
		sub, sid = string(k1), string(k2)
		if !b.bad {
			return sub, sid, nil
		}
	}
	return "", "", errBadRecord
}

// inflate decompresses z into buf, at most limit bytes when limit >= 0.
func inflate(buf *bytes.Buffer, z string, limit int) error {
	buf.Reset()
	src := strings.NewReader(z)
	zr := readerPool.Get().(io.ReadCloser)
	defer readerPool.Put(zr)
	if err := zr.(flate.Resetter).Reset(src, recordDict); err != nil {
		return err
	}
	var r io.Reader = zr
	if limit >= 0 {
		r = io.LimitReader(zr, int64(limit))
	}
	if _, err := buf.ReadFrom(r); err != nil {
		return errBadRecord
	}
	return nil
}

var (
	bufPool    = sync.Pool{New: func() any { return new(bytes.Buffer) }}
	writerPool = sync.Pool{New: func() any {
		w, _ := flate.NewWriterDict(nil, flate.DefaultCompression, recordDict)
		return w
	}}
	readerPool = sync.Pool{New: func() any { return flate.NewReaderDict(nil, recordDict) }}
)

// putBuf returns b to the pool unless it grew unusually large.
func putBuf(b *bytes.Buffer) {
	if b.Cap() <= 64<<10 {
		bufPool.Put(b)
	}
}

func putBytes[T string | []byte](b *bytes.Buffer, v T) {
	b.Write(binary.AppendUvarint(b.AvailableBuffer(), uint64(len(v))))
	b.WriteString(string(v))
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
		if r.off >= len(r.s) {
			break
		}
		c := r.s[r.off]
		r.off++
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

// str is the next length-prefixed field, sharing r.s's memory.
func (r *recordReader[T]) str() T {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.s)-r.off) {
		r.bad = true
		var zero T
		return zero
	}
	r.off += int(n)
	return r.s[r.off-int(n) : r.off]
}
