package session

import (
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/sessionshape"
)

// shapeSession is session i of the shape the scale benchmark stores
// (internal/sessionshape): what the record sizes are measured on.
func shapeSession(t testing.TB, i int, now time.Time, alg string) *Session {
	t.Helper()
	f, err := sessionshape.Make(i, now, alg)
	if err != nil {
		t.Fatal(err)
	}
	return &Session{
		ID: NewID(), Provider: f.Provider, Claims: f.Claims, Sub: f.Sub, SID: f.SID,
		AccessToken: f.AccessToken, IDToken: f.IDToken, RefreshToken: f.RefreshToken,
		TokenExpiry: f.TokenExpiry, CreatedAt: f.CreatedAt, ExpiresAt: f.ExpiresAt,
	}
}

// shapeSize is the average record length of n sessions of alg's shape:
// packed with recordDict alone (a provider's first session), and with the
// provider's dictionary made of the first one's sample (all the others);
// body is the part of the latter after the signatures (values and
// compressed body).
func shapeSize(t testing.TB, n int, alg string) (first, record, body float64) {
	t.Helper()
	now := time.Unix(1767225600, 0)
	dict := shapeDict(t, alg)
	for i := range n {
		s := shapeSession(t, i+1, now, alg)
		rec, err := encodeRecord(s)
		if err != nil {
			t.Fatal(err)
		}
		first += float64(len(rec))
		if rec, _, err = encodeRecordFor(s, dict); err != nil {
			t.Fatal(err)
		}
		record += float64(len(rec))
		body += float64(len(rec) - recordPrefixLen(t, rec))
	}
	return first / float64(n), record / float64(n), body / float64(n)
}

// shapeDict is the dictionary of a provider whose first session is
// session 0 of alg's shape.
func shapeDict(t testing.TB, alg string) []byte {
	t.Helper()
	_, sample, err := encodeRecordFor(shapeSession(t, 0, time.Unix(1767225600, 0), alg), nil)
	if err != nil {
		t.Fatal(err)
	}
	return providerDict(sample)
}

// recordPrefixLen is the length of rec up to the end of its signatures.
func recordPrefixLen(t testing.TB, rec string) int {
	t.Helper()
	r := recordReader[string]{s: rec, off: 1}
	flags := r.byte()
	r.str()
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
		t.Fatal("record prefix is corrupt")
	}
	return r.off
}

// Records of the benchmark's sessions stay as small as they are now: the
// averages are what the memory store's footprint at a million sessions is
// made of. Measured: a provider's first session (recordDict alone) HS256
// 457.9 bytes, RS256 943.4; any other session HS256 361.7, RS256 811.7, of
// which 222.7 come after the signatures.
func TestRecordShapeSize(t *testing.T) {
	for _, tt := range []struct {
		alg                          string
		maxFirst, maxRecord, maxBody float64
	}{{"HS256", 466, 370, 231}, {"RS256", 952, 820, 231}} {
		first, rec, body := shapeSize(t, 2000, tt.alg)
		t.Logf("%s: first session %.1f bytes; others %.1f, of which %.1f after the signatures", tt.alg, first, rec, body)
		if first > tt.maxFirst || rec > tt.maxRecord || body > tt.maxBody {
			t.Errorf("%s: first session %.1f bytes, others %.1f (%.1f after the signatures); more than %.0f, %.0f (%.0f)",
				tt.alg, first, rec, body, tt.maxFirst, tt.maxRecord, tt.maxBody)
		}
		for i := range 20 {
			checkRoundTrip(t, shapeSession(t, i, time.Now(), tt.alg))
		}
	}
}

// Encoding (a sign-in or refresh), decoding (a lookup the cache misses) and
// reading the keys (a back-channel logout) of sessions of either shape.
func BenchmarkRecordShape(b *testing.B) {
	for _, alg := range []string{"HS256", "RS256"} {
		b.Run(alg, func(b *testing.B) {
			// As the memory store packs all but a provider's first session.
			dict := shapeDict(b, alg)
			sessions := make([]*Session, 64)
			recs := make([]string, len(sessions))
			for i := range sessions {
				sessions[i] = shapeSession(b, i+1, time.Unix(1767225600, 0), alg)
				var err error
				if recs[i], _, err = encodeRecordFor(sessions[i], dict); err != nil {
					b.Fatal(err)
				}
			}
			for _, op := range []struct {
				name string
				run  func(i int) error
			}{
				{"encode", func(i int) error { _, _, err := encodeRecordFor(sessions[i], dict); return err }},
				{"decode", func(i int) error { _, err := decodeRecord(recs[i], "p", dict); return err }},
				{"keys", func(i int) error { _, _, err := recordKeys(recs[i], dict); return err }},
			} {
				b.Run(op.name, func(b *testing.B) {
					b.ReportAllocs()
					i := 0
					for b.Loop() {
						if err := op.run(i % len(recs)); err != nil {
							b.Fatal(err)
						}
						i++
					}
				})
			}
		})
	}
}
