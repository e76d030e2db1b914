package session

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
)

// Value extraction: the random parts of a session (sub, sid, nonce, uid,
// refresh token, key ids) are long hex or base64url strings, each repeated
// in the claims and both tokens. DEFLATE spends 5 to 6 bits on each of
// their characters; stored once as raw bytes they cost 4 (hex) or 6
// (base64) bits a character and nothing for each repeat. The text keeps a
// marker byte and the value's index in their place.
//
// The claims' exp is the record's TokenExpiry (the proxy takes the token's
// expiry from it): where the text has that number, it keeps a marker alone.
//
// The markers are control characters, which JSON text never holds
// unescaped; a field that holds one anyway (an opaque token, any bytes) is
// kept as it is.
const (
	markHex  = 0x00 // lowercase hex of even length >= 16: half as many raw bytes
	markUUID = 0x01 // a canonical lowercase UUID: 16 raw bytes
	markB64  = 0x02 // canonical unpadded base64url of >= 22 characters
	markExp  = 0x03 // TokenExpiry in Unix seconds, in decimal; no index
	lastMark = markExp
)

const (
	minHexRun = 16 // 8 raw bytes: shorter runs are mostly numbers and words
	minB64Run = 22 // 16 raw bytes (128 bits)
	uuidLen   = 36
)

// Character classes of value runs.
const (
	classB64    = 1 << iota // [A-Za-z0-9_-]: a run goes on
	classLower              // [0-9a-f]
	classHexish             // [0-9A-Fa-f-]: base64-decoding such a run would make it longer
)

var runClass = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
			t[c] = classB64 | classLower | classHexish
		case 'A' <= c && c <= 'F', c == '-':
			t[c] = classB64 | classHexish
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_':
			t[c] = classB64
		}
	}
	return t
}()

// strictB64 refuses non-zero unused bits in the last character, so a run it
// decodes is canonical: re-encoding gives it back (a run holds no CR or LF,
// which the decoder would skip).
var strictB64 = base64.RawURLEncoding.Strict()

// valueTable collects the values of one record, each raw value once: the
// marker says how to spell it, so a hex and a base64 value of the same bytes
// share an entry.
type valueTable struct {
	data  []byte         // the raw values, one after another
	ends  []int          // where each value ends in data
	index map[string]int // by raw value, once there are too many to scan
	exp   []byte         // the record's TokenExpiry in decimal, empty if zero
	// keep is a run left as text: the provider's client id, which its
	// dictionary holds (as aud and azp), so that there it costs nothing.
	keep []byte
}

// maxScan is how many values are looked up by scanning before the table
// builds its index (a session has about six).
const maxScan = 16

func (t *valueTable) reset() {
	t.data, t.ends, t.exp, t.keep = t.data[:0], t.ends[:0], t.exp[:0], t.keep[:0]
	clear(t.index)
}

// add makes the value at the end of data (from start on) an entry, or drops
// it for the equal entry there is, and returns its index.
func (t *valueTable) add(start int) int {
	v := t.data[start:]
	if t.index != nil && len(t.ends) > maxScan {
		if i, ok := t.index[string(v)]; ok {
			t.data = t.data[:start]
			return i
		}
		t.index[string(v)] = len(t.ends)
	} else {
		from := 0
		for i, end := range t.ends {
			if bytes.Equal(t.data[from:end], v) {
				t.data = t.data[:start]
				return i
			}
			from = end
		}
		if len(t.ends) == maxScan {
			// From now on by index: the scanned entries join it.
			if t.index == nil {
				t.index = make(map[string]int)
			}
			from := 0
			for i, end := range t.ends {
				t.index[string(t.data[from:end])] = i
				from = end
			}
			t.index[string(v)] = len(t.ends)
		}
	}
	t.ends = append(t.ends, len(t.data))
	return len(t.ends) - 1
}

// appendTo appends the table: uvarint count, then each value as uvarint
// length and raw bytes.
func (t *valueTable) appendTo(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(t.ends)))
	from := 0
	for _, end := range t.ends {
		dst = binary.AppendUvarint(dst, uint64(end-from))
		dst = append(dst, t.data[from:end]...)
		from = end
	}
	return dst
}

// hasMarker reports whether f holds a byte extraction would take for a marker.
func hasMarker(f []byte) bool {
	for _, c := range f {
		if c <= lastMark {
			return true
		}
	}
	return false
}

// appendExtracted appends f with its values replaced by markers, adding
// the values to t. f must hold no marker byte (hasMarker).
func (t *valueTable) appendExtracted(dst, f []byte) []byte {
	lit := 0 // f[lit:i] is text not yet appended
	for i := 0; i < len(f); {
		if runClass[f[i]] == 0 {
			i++
			continue
		}
		// A maximal run of base64url characters, and the classes all of
		// its characters share.
		j, all := i, uint8(classB64|classLower|classHexish)
		for j < len(f) && runClass[f[j]] != 0 {
			all &= runClass[f[j]]
			j++
		}
		if len(t.exp) > 0 && bytes.Equal(f[i:j], t.exp) {
			dst = append(dst, f[lit:i]...)
			dst = append(dst, markExp)
			lit = j
		} else if bytes.Equal(f[i:j], t.keep) {
			// text
		} else if mark, idx, ok := t.value(f[i:j], all); ok {
			dst = append(dst, f[lit:i]...)
			dst = append(dst, mark)
			dst = binary.AppendUvarint(dst, uint64(idx))
			lit = j
		}
		i = j
	}
	return append(dst, f[lit:]...)
}

// value adds run to t if it is a value; all is the classes all its
// characters share.
func (t *valueTable) value(run []byte, all uint8) (mark byte, idx int, ok bool) {
	n, start := len(run), len(t.data)
	switch {
	case all&classLower != 0 && n >= minHexRun && n%2 == 0:
		t.data = appendHexDecoded(t.data, run)
		return markHex, t.add(start), true
	case n == uuidLen && isUUID(run):
		for _, part := range [][]byte{run[:8], run[9:13], run[14:18], run[19:23], run[24:]} {
			t.data = appendHexDecoded(t.data, part)
		}
		return markUUID, t.add(start), true
	case n >= minB64Run && all&classHexish == 0:
		var err error
		if t.data, err = strictB64.AppendDecode(t.data, run); err != nil {
			t.data = t.data[:start] // not canonical (or an impossible length): text
			return 0, 0, false
		}
		return markB64, t.add(start), true
	}
	return 0, 0, false
}

// isUUID reports whether run, of uuidLen characters, is 8-4-4-4-12
// lowercase hex digits.
func isUUID(run []byte) bool {
	for i, c := range run {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if runClass[c]&classLower == 0 {
			return false
		}
	}
	return true
}

// appendHexDecoded appends the bytes of h, an even number of lowercase hex
// digits.
func appendHexDecoded(dst, h []byte) []byte {
	for i := 0; i+1 < len(h); i += 2 {
		dst = append(dst, nibble(h[i])<<4|nibble(h[i+1]))
	}
	return dst
}

func nibble(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'a' + 10
}

const hexDigits = "0123456789abcdef"

// appendExpanded appends text with each marker replaced by the value it
// stands for (from vals, or exp); a marker without a value of its kind, or
// dst growing past maxRecordText (a few bytes of markers can stand for much
// more), is errBadRecord.
func appendExpanded(dst, text []byte, vals [][]byte, exp []byte) ([]byte, error) {
	for {
		i := markerIndex(text)
		if i < 0 {
			return append(dst, text...), nil
		}
		dst = append(dst, text[:i]...)
		v, n, ok := markedValue(text[i:], vals, exp)
		if !ok || len(dst)+2*len(v)+4 > maxRecordText {
			return nil, errBadRecord
		}
		switch text[i] {
		case markHex:
			for _, b := range v {
				dst = append(dst, hexDigits[b>>4], hexDigits[b&15])
			}
		case markUUID:
			for j, b := range v {
				if j == 4 || j == 6 || j == 8 || j == 10 {
					dst = append(dst, '-')
				}
				dst = append(dst, hexDigits[b>>4], hexDigits[b&15])
			}
		case markB64:
			dst = base64.RawURLEncoding.AppendEncode(dst, v)
		case markExp:
			dst = append(dst, v...)
		}
		text = text[i+n:]
	}
}

// markerIndex is the index of the first marker in text, or -1.
func markerIndex(text []byte) int {
	for i, c := range text {
		if c <= lastMark {
			return i
		}
	}
	return -1
}

// markedValue is the value the marker at the start of text stands for, and
// the length of marker and index (markExp has no index: it stands for exp).
// A value that its marker could not have stood for (a UUID of other than 16
// bytes, a hex or base64 value too short to have been taken out) is not ok:
// the record is corrupt.
func markedValue(text []byte, vals [][]byte, exp []byte) (v []byte, n int, ok bool) {
	if text[0] == markExp {
		return exp, 1, len(exp) > 0
	}
	idx, k := binary.Uvarint(text[1:])
	if k <= 0 || idx >= uint64(len(vals)) {
		return nil, 0, false
	}
	v = vals[idx]
	switch text[0] {
	case markHex:
		ok = 2*len(v) >= minHexRun
	case markUUID:
		ok = len(v) == 16
	case markB64:
		ok = base64.RawURLEncoding.EncodedLen(len(v)) >= minB64Run
	}
	return v, 1 + k, ok
}
