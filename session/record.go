package session

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A record is one session as the memory store keeps it when it is not in
// use: one immutable string, so a stored session is one allocation that the
// garbage collector never scans. Layout:
//
//	version byte (which dictionary, below), flags byte (token kinds, time kinds)
//	uvarint len + ID (kept plain: a lookup compares it in place)
//	CreatedAt, TokenExpiry, ExpiresAt: varint seconds + uvarint nanoseconds, unless zero
//	  (the instant, in UTC if it was; any other location comes back as Local)
//	the JWT signatures of the access and ID token: uvarint len + raw bytes
//	the values (record_values.go): uvarint count, then each as uvarint len + raw bytes
//	the rest: DEFLATE of the body (less the four bytes every stream ends
//	  with: record_flate.go), with recordDict (recordVersion) or with its
//	  provider's dictionary (recordVersionProvider: providerDict)
//
// The body is Sub, SID, the claims as JSON, the access and ID token (a JWT
// as its decoded header and payload, anything else as it is) and the
// refresh token, each as uvarint len<<1|plain + text. The text has its
// values taken out, each replaced by a marker and the value's index, and
// TokenExpiry's seconds by a marker of their own, unless plain is 1: then
// it is the field as it is (it holds a marker byte). A JWT's payload
// repeats most of the claims, so compressing them together stores that
// once; signatures are random and stay out of the compressor, and so do
// the values, stored once each, raw. The values come before the body so
// that recordKeys needs to inflate only its start. The provider is not in
// the record (the store interns it, and keeps its dictionary).
const (
	recordVersion         = 2
	recordVersionProvider = 3
)

const (
	flagAccessJWT = 1 << iota
	flagIDJWT
)

// Each time takes two bits of the flags from bit 2 on.
const (
	timeZero  = 0
	timeLocal = 1
	timeUTC   = 2
	timeBad   = 3 // no record has it
)

var (
	errBadRecord = errors.New("session record is corrupt")
	errTooLarge  = errors.New("session is too large for a record")
)

// maxRecordText bounds a session's text (ID aside): a corrupt record could
// otherwise expand without end, and no real session comes near.
const maxRecordText = 16 << 20

// recordEncoder is the scratch space of one encodeRecord.
type recordEncoder struct {
	out   bytes.Buffer
	body  []byte // the body before compression
	text  []byte // one field with its values taken out
	field []byte // a string field, as bytes
	jwt   []byte // the decoded parts of the tokens
	vals  valueTable
}

// putField appends f to the body, its values taken out unless it holds a
// marker byte already.
func (e *recordEncoder) putField(f []byte) {
	if hasMarker(f) {
		e.putPlain(f)
		return
	}
	e.text = e.vals.appendExtracted(e.text[:0], f)
	e.body = binary.AppendUvarint(e.body, uint64(len(e.text))<<1)
	e.body = append(e.body, e.text...)
}

// putPlain appends f to the body as it is.
func (e *recordEncoder) putPlain(f []byte) {
	e.body = binary.AppendUvarint(e.body, uint64(len(f))<<1|1)
	e.body = append(e.body, f...)
}

func (e *recordEncoder) putString(s string) {
	e.field = append(e.field[:0], s...)
	e.putField(e.field)
}

// encodeRecord packs s. Claims must be JSON-encodable: they come back as
// encoding/json decodes them (numbers float64, arrays []any), which is how
// the proxy's verified claims always look.
func encodeRecord(s *Session) (string, error) {
	rec, _, err := encodeRecordFor(s, nil)
	return rec, err
}

// encodeRecordFor packs s with the dictionary of its provider, dict from
// providerDict, or with recordDict alone when dict is nil: then it also
// returns a sample of s for its provider's dictionary, which has no
// token material (no values, no signature, no refresh token).
func encodeRecordFor(s *Session, dict []byte) (rec string, sample []byte, err error) {
	claims, err := json.Marshal(s.Claims)
	if err != nil {
		return "", nil, err
	}
	if len(s.Sub)+len(s.SID)+len(claims)+len(s.AccessToken)+len(s.IDToken)+len(s.RefreshToken) > maxRecordText {
		return "", nil, errTooLarge
	}
	e := encoderPool.Get().(*recordEncoder)
	defer putEncoder(e)
	e.body = e.body[:0]
	e.vals.reset()
	if !s.TokenExpiry.IsZero() {
		e.vals.exp = strconv.AppendInt(e.vals.exp[:0], s.TokenExpiry.Unix(), 10)
	}
	e.vals.keep = append(e.vals.keep, s.Provider...)
	var flags byte
	e.putString(s.Sub)
	e.putString(s.SID)
	e.putField(claims)
	e.jwt = e.jwt[:0]
	var sigs [2][]byte
	for i, t := range []string{s.AccessToken, s.IDToken} {
		e.field = append(e.field[:0], t...)
		var parts [3][]byte
		var ok bool
		if e.jwt, parts, ok = splitJWT(e.jwt, e.field); ok {
			flags |= flagAccessJWT << i
			// A provider's tokens share their header, key id and all:
			// as text, its dictionary holds it.
			e.putPlain(parts[0])
			e.putField(parts[1])
			sigs[i] = parts[2]
		} else {
			e.putField(e.field)
		}
	}
	if dict == nil {
		sample = bytes.Clone(e.body) // all but the refresh token
	}
	e.putString(s.RefreshToken)

	out := &e.out
	out.Reset()
	version := byte(recordVersionProvider)
	if dict == nil {
		version, dict = recordVersion, recordDict
	}
	out.WriteByte(version)
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
	out.Write(e.vals.appendTo(out.AvailableBuffer()))
	if err := deflate(out, e.body, dict); err != nil {
		return "", nil, err
	}
	b := out.Bytes()
	b[1] = flags
	return string(b), sample, nil
}

// recordID is the session id inside rec, sharing its memory.
func recordID(rec string) string {
	r := recordReader[string]{s: rec, off: 2}
	return r.str()
}

// recordDecoder is the scratch space of one decodeRecord or recordKeys.
type recordDecoder struct {
	body    bytes.Buffer // the inflated body
	table   []byte       // the values, copied out of the record
	vals    [][]byte     // each value, in table
	exp     []byte       // TokenExpiry in decimal, empty if zero
	text    []byte       // the fields with their values put back, one after another
	jwt     []byte       // a token put together again
	src     streamReader
	limited io.LimitedReader
}

// readValues reads the values at the start of rec[r.off:] into d.vals.
func (d *recordDecoder) readValues(r *recordReader[string]) {
	n := r.uvarint()
	start := r.off
	for range min(n, uint64(len(r.s))) { // a value takes at least a byte
		r.str()
	}
	if r.bad || n > uint64(len(r.s)) {
		r.bad = true
		return
	}
	d.table = append(d.table[:0], r.s[start:r.off]...)
	t := recordReader[[]byte]{s: d.table}
	d.vals = d.vals[:0]
	for range n {
		d.vals = append(d.vals, t.str())
	}
}

// readFields reads the n fields of body b, appending their text with the
// values put back to d.text; ends[k+1] is where field k ends there.
func (d *recordDecoder) readFields(b *recordReader[[]byte], n int, ends *[maxFields + 1]int) error {
	d.text = d.text[:0]
	for k := range n {
		h := b.uvarint()
		if b.bad || h>>1 > uint64(len(b.s)-b.off) {
			return errBadRecord
		}
		text := b.s[b.off : b.off+int(h>>1)]
		b.off += len(text)
		if h&1 != 0 {
			d.text = append(d.text, text...)
		} else {
			var err error
			if d.text, err = appendExpanded(d.text, text, d.vals, d.exp); err != nil {
				return err
			}
		}
		ends[k+1] = len(d.text)
	}
	return nil
}

// maxBody bounds the body of a record: its text and the fields' lengths.
const maxBody = maxRecordText + 64

// maxFields is the most fields a body has: Sub, SID, claims, two JWTs of
// two parts each, the refresh token.
const maxFields = 8

// skipPrefix reads rec from the flags to the end of the signatures, keeping
// TokenExpiry's seconds in d.exp.
func (d *recordDecoder) skipPrefix(r *recordReader[string], flags byte) {
	r.str() // id
	d.exp = d.exp[:0]
	for i := range 3 {
		switch (flags >> (2 + 2*i)) & 3 {
		case timeLocal, timeUTC:
			if sec := r.varint(); i == 1 {
				d.exp = strconv.AppendInt(d.exp, sec, 10)
			}
			if r.uvarint() >= 1e9 {
				r.bad = true
			}
		case timeBad:
			r.bad = true
		}
	}
	for i := range 2 {
		if flags&(flagAccessJWT<<i) != 0 {
			r.str()
		}
	}
}

// dictOf is the dictionary rec was packed with: recordDict, or its
// provider's, dict; nil when rec is neither kind of record.
func dictOf(version byte, dict []byte) []byte {
	switch version {
	case recordVersion:
		return recordDict
	case recordVersionProvider:
		return dict
	}
	return nil
}

// decodeRecord unpacks rec into a new session of provider, whose
// dictionary is dict (nil if it has none).
func decodeRecord(rec, provider string, dict []byte) (*Session, error) {
	r := recordReader[string]{s: rec}
	if dict = dictOf(r.byte(), dict); dict == nil {
		return nil, errBadRecord
	}
	flags := r.byte()
	s := &Session{ID: r.str(), Provider: provider}
	d := decoderPool.Get().(*recordDecoder)
	defer putDecoder(d)
	d.exp = d.exp[:0]
	for i, t := range []*time.Time{&s.CreatedAt, &s.TokenExpiry, &s.ExpiresAt} {
		kind := (flags >> (2 + 2*i)) & 3
		if kind == timeZero {
			continue
		}
		sec, nsec := r.varint(), r.uvarint()
		if kind == timeBad || nsec >= 1e9 {
			return nil, errBadRecord
		}
		if *t = time.Unix(sec, int64(nsec)); kind == timeUTC {
			*t = t.UTC()
		}
		if i == 1 {
			d.exp = strconv.AppendInt(d.exp, sec, 10)
		}
	}
	var sigs [2]string
	for i := range sigs {
		if flags&(flagAccessJWT<<i) != 0 {
			sigs[i] = r.str()
		}
	}
	d.readValues(&r)
	if r.bad {
		return nil, errBadRecord
	}
	if err := d.inflate(rec[r.off:], maxBody, dict); err != nil {
		return nil, err
	}
	n := maxFields
	for i := range 2 {
		if flags&(flagAccessJWT<<i) == 0 {
			n-- // the token as it is, not header and payload
		}
	}
	b := recordReader[[]byte]{s: d.body.Bytes()}
	var ends [maxFields + 1]int
	if err := d.readFields(&b, n, &ends); err != nil {
		return nil, err
	}
	if b.off != len(b.s) {
		return nil, errBadRecord
	}
	field := func(k int) []byte { return d.text[ends[k]:ends[k+1]] }
	sub, sid, claims := field(0), field(1), field(2)
	var parts [2][2][]byte // header and payload of JWTs, the whole token otherwise
	size := len(sub) + len(sid)
	k := 3
	for i := range parts {
		parts[i][0] = field(k)
		k++
		if flags&(flagAccessJWT<<i) != 0 {
			parts[i][1] = field(k)
			k++
			size += jwtLen(len(parts[i][0]), len(parts[i][1]), len(sigs[i]))
		} else {
			size += len(parts[i][0])
		}
	}
	refresh := field(k)
	size += len(refresh)
	// All of the session's strings share one allocation of exactly their
	// size; the scratch space goes back to the pool.
	var sb strings.Builder
	sb.Grow(size)
	var at [6]int
	sb.Write(sub)
	at[0] = sb.Len()
	sb.Write(sid)
	at[1] = sb.Len()
	for i := range parts {
		if flags&(flagAccessJWT<<i) != 0 {
			d.jwt = appendJWT(d.jwt[:0], parts[i][0], parts[i][1], sigs[i])
			sb.Write(d.jwt)
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

// recordKeys is the Sub and SID of rec, of a provider whose dictionary
// is dict, read from the start of the body without inflating the rest.
func recordKeys(rec string, dict []byte) (sub, sid string, err error) {
	r := recordReader[string]{s: rec}
	if dict = dictOf(r.byte(), dict); dict == nil {
		return "", "", errBadRecord
	}
	d := decoderPool.Get().(*recordDecoder)
	defer putDecoder(d)
	d.skipPrefix(&r, r.byte())
	d.readValues(&r)
	if r.bad {
		return "", "", errBadRecord
	}
	// Two lengths and two keys of up to 240 bytes each fit in 512 (values
	// only make them shorter); longer keys are rare enough to inflate it all.
	for _, limit := range []int{512, maxBody} {
		if err := d.inflate(rec[r.off:], limit, dict); err != nil {
			return "", "", err
		}
		b := recordReader[[]byte]{s: d.body.Bytes()}
		var ends [maxFields + 1]int
		err := d.readFields(&b, 2, &ends)
		if err == nil {
			return string(d.text[:ends[1]]), string(d.text[ends[1]:ends[2]]), nil
		}
		if limit == maxBody {
			return "", "", err
		}
	}
	return "", "", errBadRecord
}

var (
	encoderPool = sync.Pool{New: func() any { return new(recordEncoder) }}
	decoderPool = sync.Pool{New: func() any { return new(recordDecoder) }}
)

// Scratch space goes back to its pool unless a session made it grow
// unusually large.
const maxPooled = 64 << 10

func putEncoder(e *recordEncoder) {
	if max(e.out.Cap(), cap(e.body), cap(e.text), cap(e.field), cap(e.jwt), cap(e.vals.data), cap(e.vals.keep), 8*cap(e.vals.ends)) <= maxPooled {
		encoderPool.Put(e)
	}
}

func putDecoder(d *recordDecoder) {
	if max(d.body.Cap(), cap(d.table), cap(d.text), cap(d.jwt), cap(d.exp), 16*cap(d.vals)) <= maxPooled {
		decoderPool.Put(d)
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
