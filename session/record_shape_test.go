package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// The shapes of the sessions the scale benchmark stores (a copy of
// bench/harness/scale.go's generator): what the record sizes are measured on.

// shapeSecret is the provider's client secret, the HS256 key.
const shapeSecret = "bench-client-secret-0123456789abcdef"

// shapeSession is session i as a sign-in at the devcore stores it: an ID
// token and an access token as the devcore issues them, signed with alg
// ("HS256", or "RS256" as authentik signs them: a key id and a random
// 256-byte signature), a refresh token like the devcore's, and the claims
// as the outpost keeps them (the access token's, decoded). Everything that
// differs between people differs here, so nothing compresses better than it
// would in production.
func shapeSession(t testing.TB, i int, now time.Time, alg string) *Session {
	t.Helper()
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], uint64(i))
	rng := rand.NewChaCha8(seed)
	random := func(n int) []byte { b := make([]byte, n); _, _ = rng.Read(b); return b }

	user := fmt.Sprintf("user%07d", i)
	sum := sha256.Sum256([]byte(user + "-devcore"))
	sub := hex.EncodeToString(sum[:])
	sum = sha256.Sum256([]byte(hex.EncodeToString(random(32)))) // the core session's key
	sid := hex.EncodeToString(sum[:])
	iat := now.Add(-time.Duration(i%43200) * time.Second).Unix()
	authTime := iat - int64(i%7)
	exp := iat + 86400
	id := map[string]any{
		"iss": "http://core.example.com/application/o/app/", "sub": sub, "aud": "app-client",
		"exp": exp, "iat": iat, "auth_time": authTime, "acr": "goauthentik.io/providers/oauth2/default",
		"amr": []string{"pwd"}, "sid": sid, "nonce": base64.RawURLEncoding.EncodeToString(random(32)),
		"email": user + "@example.com", "email_verified": false,
		"name": "Person " + user, "given_name": "Person " + user, "preferred_username": user, "nickname": user,
		"groups": []string{"ops", "developers"}, "entitlements": []string{}, "roles": []string{},
		"ak_proxy": map[string]any{
			"user_attributes": map[string]any{"additionalHeaders": map[string]any{"X-Team": "platform"}},
			"is_superuser":    false,
		},
	}
	access := maps.Clone(id)
	access["azp"] = "app-client"
	access["uid"] = hex.EncodeToString(random(20))
	access["scope"] = "openid email profile entitlements ak_proxy offline_access"
	accessToken := shapeSign(t, alg, access, random)
	var claims map[string]any
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(accessToken, ".")[1])
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return &Session{
		ID: NewID(), Provider: "app-client", Claims: claims, Sub: sub, SID: sid,
		AccessToken: accessToken, IDToken: shapeSign(t, alg, id, random), RefreshToken: hex.EncodeToString(random(32)),
		TokenExpiry: time.Unix(exp, 0), CreatedAt: time.Unix(iat, 0), ExpiresAt: time.Unix(exp, 0),
	}
}

// shapeSign makes a compact JWT of claims: HS256 as go-jose signs it, or
// RS256 with a random signature.
func shapeSign(t testing.TB, alg string, claims map[string]any, random func(int) []byte) string {
	t.Helper()
	header := `{"alg":"HS256","typ":"JWT"}`
	if alg == "RS256" {
		header = `{"alg":"RS256","kid":"8d9c5a2b0e4f4e6b9a1c3d5e7f901234","typ":"JWT"}`
	}
	body, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	signed := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString(body)
	var sig []byte
	switch alg {
	case "HS256":
		mac := hmac.New(sha256.New, []byte(shapeSecret))
		mac.Write([]byte(signed))
		sig = mac.Sum(nil)
	case "RS256":
		sig = random(256)
	default:
		t.Fatalf("unknown alg %q", alg)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
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
			b.Run("encode", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if _, _, err := encodeRecordFor(sessions[i%len(sessions)], dict); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
			b.Run("decode", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if _, err := decodeRecord(recs[i%len(recs)], "p", dict); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
			b.Run("keys", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if _, _, err := recordKeys(recs[i%len(recs)], dict); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		})
	}
}
