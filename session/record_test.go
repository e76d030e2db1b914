package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// jwtOf signs claims as a compact HS256 JWT, the way the devcore does.
func jwtOf(t testing.TB, claims map[string]any) string {
	t.Helper()
	body, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(body)
	mac := hmac.New(sha256.New, []byte("0123456789abcdef0123456789abcdef"))
	mac.Write([]byte(signed))
	return signed + "." + enc.EncodeToString(mac.Sum(nil))
}

// recordSession is a session as a sign-in at the devcore leaves it.
func recordSession(t testing.TB) *Session {
	now := time.Unix(1767225600, 123456789)
	claims := map[string]any{
		"iss": "https://authentik.example.com/application/o/grafana/", "sub": strings.Repeat("5f1c", 16),
		"aud": "grafana", "azp": "grafana", "exp": float64(now.Add(time.Hour).Unix()), "iat": float64(now.Unix()),
		"auth_time": float64(now.Unix()), "acr": "goauthentik.io/providers/oauth2/default", "amr": []any{"pwd"},
		"sid": strings.Repeat("b0c1", 16), "nonce": "n-0S6_WzA2Mj", "uid": strings.Repeat("ab", 20),
		"email": "alice@example.com", "email_verified": true, "name": "Alice Example", "given_name": "Alice Example",
		"preferred_username": "alice", "nickname": "alice", "groups": []any{"ops", "developers"},
		"entitlements": []any{}, "roles": []any{}, "scope": "openid email profile ak_proxy",
		"ak_proxy": map[string]any{
			"user_attributes": map[string]any{"additionalHeaders": map[string]any{"X-Team": "platform"}},
			"is_superuser":    false,
		},
	}
	id := map[string]any{}
	for k, v := range claims {
		if k != "azp" && k != "uid" && k != "scope" {
			id[k] = v
		}
	}
	return &Session{
		ID: NewID(), Provider: "grafana", Claims: claims, Sub: claims["sub"].(string), SID: claims["sid"].(string),
		AccessToken: jwtOf(t, claims), IDToken: jwtOf(t, id), RefreshToken: strings.Repeat("9e", 32),
		TokenExpiry: now.Add(time.Hour), CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour),
	}
}

// checkRoundTrip encodes s, decodes it and fails unless every field came
// back: strings byte for byte, times as the same instant in the same kind
// of location, claims as encoding/json decodes them. It returns the record.
func checkRoundTrip(t *testing.T, s *Session) string {
	t.Helper()
	rec, err := encodeRecord(s)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	got, err := decodeRecord(rec)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	for _, f := range []struct{ name, got, want string }{
		{"ID", got.ID, s.ID}, {"Provider", got.Provider, s.Provider}, {"Sub", got.Sub, s.Sub}, {"SID", got.SID, s.SID},
		{"AccessToken", got.AccessToken, s.AccessToken}, {"IDToken", got.IDToken, s.IDToken},
		{"RefreshToken", got.RefreshToken, s.RefreshToken},
	} {
		if f.got != f.want {
			t.Errorf("%s = %q, want %q", f.name, f.got, f.want)
		}
	}
	for _, tt := range []struct {
		name      string
		got, want time.Time
	}{{"CreatedAt", got.CreatedAt, s.CreatedAt}, {"TokenExpiry", got.TokenExpiry, s.TokenExpiry}, {"ExpiresAt", got.ExpiresAt, s.ExpiresAt}} {
		// A zero time comes back as time.Time{}, whatever its location.
		sameKind := tt.want.IsZero() || (tt.got.Location() == time.UTC) == (tt.want.Location() == time.UTC)
		if !tt.got.Equal(tt.want) || tt.got.IsZero() != tt.want.IsZero() || !sameKind {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	want := normalizeClaims(t, s.Claims)
	if !reflect.DeepEqual(got.Claims, want) {
		t.Errorf("claims = %#v, want %#v", got.Claims, want)
	}
	k, _, err := readRecordKeys(rec)
	if err != nil || k != (recordKeys{s.ID, s.Provider, s.Sub, s.SID}) {
		t.Errorf("readRecordKeys = %+v, %v; want %q, %q, %q, %q", k, err, s.ID, s.Provider, s.Sub, s.SID)
	}
	return rec
}

// normalizeClaims is claims as they come back from JSON.
func normalizeClaims(t *testing.T, claims map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRecordRoundTrip(t *testing.T) {
	real := recordSession(t)
	enc := base64.RawURLEncoding
	h := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	p := enc.EncodeToString([]byte(`{"sub":"x"}`))
	cases := map[string]func(s *Session){
		"devcore sign-in": func(*Session) {},
		"empty":           func(s *Session) { *s = Session{ID: "a"} },
		"opaque tokens": func(s *Session) {
			s.AccessToken, s.IDToken, s.RefreshToken = "opaque-access-token", "", "r"
		},
		"padded base64":            func(s *Session) { s.AccessToken = h + "=." + p + ".c2ln" },
		"standard base64 alphabet": func(s *Session) { s.AccessToken = strings.ReplaceAll(s.AccessToken, "-", "+") + "+/" },
		// "c2lo" and "c2lp" decode to the same bytes (the last character's
		// unused bits differ); only the canonical one may be rebuilt.
		"stray bits":     func(s *Session) { s.AccessToken = h + "." + p + ".c2lp" },
		"line break":     func(s *Session) { s.AccessToken = h + ".\n" + p + ".c2ln" },
		"crlf":           func(s *Session) { s.IDToken = h + "." + p + "\r\n.c2ln" },
		"four parts":     func(s *Session) { s.AccessToken = h + "." + p + ".c2ln.eA" },
		"jwe":            func(s *Session) { s.AccessToken = h + "..aXY." + p + ".dGFn" },
		"unsigned":       func(s *Session) { s.AccessToken = h + "." + p + "." },
		"empty parts":    func(s *Session) { s.AccessToken = ".." },
		"not base64":     func(s *Session) { s.IDToken = "a.b!.c" },
		"one char parts": func(s *Session) { s.IDToken = "a.b.c" },
		"binary payload": func(s *Session) { s.AccessToken = h + "." + enc.EncodeToString([]byte{0, 0xff, 0x80, '"'}) + ".AA" },
		"rs256 signature": func(s *Session) {
			s.IDToken = h + "." + p + "." + enc.EncodeToString([]byte(strings.Repeat("\xa5\x5a", 128)))
		},
		"utc and zero times": func(s *Session) {
			s.CreatedAt, s.TokenExpiry, s.ExpiresAt = time.Time{}, s.TokenExpiry.UTC(), time.Date(2262, 4, 11, 23, 47, 16, 854775807, time.UTC)
		},
		"far past and future": func(s *Session) {
			s.CreatedAt, s.ExpiresAt = time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.Local)
		},
		"long keys":  func(s *Session) { s.Sub, s.SID = strings.Repeat("s", 700), strings.Repeat("i", 300) },
		"nil claims": func(s *Session) { s.Claims = nil },
		"go types in claims": func(s *Session) {
			s.Claims = map[string]any{"groups": []string{"a", "b"}, "n": 3, "big": int64(1) << 60, "html": "<a&b>", "bad utf8": "\xff"}
		},
		// Hex, UUID and base64url values around the lengths an earlier
		// encoding took them out at, in every field.
		"hex values": func(s *Session) {
			s.Sub, s.SID = strings.Repeat("0f", 8), strings.Repeat("e1", 7)+"e" // 16 digits, and 15
			s.Claims["h"] = []any{strings.Repeat("a", 16), strings.Repeat("a", 17), strings.Repeat("5", 64), "12345678901234567890"}
			s.AccessToken = jwtOf(t, s.Claims)
		},
		"uuids": func(s *Session) {
			s.Sub, s.SID = "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "6BA7B810-9DAD-11D1-80B4-00C04FD430C8"
			s.Claims["sub"], s.Claims["sid"] = s.Sub, s.SID
			s.Claims["pk"] = "6ba7b810-9dad-11d1-80b4-00c04fd430c8-1"
			s.IDToken = jwtOf(t, s.Claims)
		},
		"base64url values": func(s *Session) {
			b64 := enc.EncodeToString([]byte("sixteen bytes ok"))
			s.Sub, s.SID = b64, b64[:21]+"B" // canonical at 22 characters, and a stray bit
			s.Claims["nonce"] = enc.EncodeToString([]byte("a nonce of 32 bytes, like ours!!"))
			s.Claims["at_hash"] = b64 + "_-"
			s.AccessToken, s.IDToken = jwtOf(t, s.Claims), jwtOf(t, map[string]any{"nonce": s.Claims["nonce"]})
		},
		"mixed case": func(s *Session) {
			s.Sub, s.SID = "0123456789ABCDEF0123456789abcdef", "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" // a base32 id
			s.RefreshToken = strings.ToUpper(s.RefreshToken)
		},
		"hex-like runs": func(s *Session) {
			s.Sub = strings.Repeat("ab", 20) + "c" // odd: not hex, and only hex digits: not base64
			s.SID = strings.Repeat("ab", 11) + "-cd"
			s.RefreshToken = strings.Repeat("9e", 32) + "9"
		},
		"marker bytes": func(s *Session) {
			s.Sub, s.SID = "\x00"+strings.Repeat("ab", 8), strings.Repeat("ab", 8)+"\x01"
			s.Claims["nul"] = "\x00\x01\x02" // JSON escapes them: the claims are extracted anyway
			s.AccessToken = "opaque\x02" + strings.Repeat("cd", 16)
			s.IDToken = h + "." + enc.EncodeToString([]byte("{\x00\x01\x02"+strings.Repeat("ab", 16)+"}")) + ".c2ln"
			s.RefreshToken = "\x02\x00\x00"
		},
		"values shared across fields": func(s *Session) {
			s.SID = s.Sub
			s.RefreshToken = s.Sub + "." + enc.EncodeToString([]byte(s.Sub)) + "." + s.Sub
		},
		"same bytes as hex and base64": func(s *Session) {
			raw := []byte(strings.Repeat("\x5f\x1c", 16))
			s.RefreshToken = enc.EncodeToString(raw) // sub's bytes
		},
		"opaque refresh token": func(s *Session) {
			s.RefreshToken = "Xk3b9Qz7LmP2vR8tY1wN4cF6hJ0sD5gA" + "Xk3b9Qz7LmP2vR8tY1wN4cF6hJ0sD5gAxyzw" + strings.Repeat("Ab9", 20)
		},
		"values at the edges": func(s *Session) {
			s.Sub = strings.Repeat("ab", 8) + "." + strings.Repeat("cd", 8)
			s.SID = strings.Repeat("ab", 8) + strings.Repeat("ab", 8)[:1]
			s.AccessToken = strings.Repeat("ab", 8)
			s.IDToken = "." + strings.Repeat("ab", 8) + "."
		},
		"non-JSON tokens": func(s *Session) {
			s.AccessToken = h + "." + enc.EncodeToString([]byte("not json "+strings.Repeat("ab", 16))) + ".c2ln"
			s.IDToken = "v2.local." + enc.EncodeToString([]byte(strings.Repeat("paseto-like ", 4)))
		},
		// TokenExpiry's seconds in other fields.
		"exp is TokenExpiry": func(s *Session) {
			exp := strconv.FormatInt(s.TokenExpiry.Unix(), 10)
			s.Sub, s.SID = exp, exp+"0"
			s.RefreshToken = exp + "." + exp
		},
		"exp without TokenExpiry": func(s *Session) { s.TokenExpiry = time.Time{} },
		"exp other than TokenExpiry": func(s *Session) {
			s.TokenExpiry = s.TokenExpiry.Add(time.Second)
			s.Sub = strconv.FormatInt(s.TokenExpiry.Unix(), 10)
		},
		"TokenExpiry before 1970": func(s *Session) {
			s.TokenExpiry = time.Unix(-86400, 0)
			s.Sub, s.SID = "-86400", "x-86400"
		},
		"empty fields": func(s *Session) {
			s.Sub, s.SID, s.RefreshToken, s.IDToken = "", "", "", ""
			s.AccessToken = ".."
		},
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			s := real.Clone()
			change(s)
			checkRoundTrip(t, s)
		})
	}
}

// The point of the record: a devcore sign-in (two HS256 tokens of about
// 1 KB each, 900 bytes of claims) fits in a small fraction of that.
func TestRecordIsCompact(t *testing.T) {
	s := recordSession(t)
	rec := checkRoundTrip(t, s)
	claims, _ := json.Marshal(s.Claims)
	plain := len(s.AccessToken) + len(s.IDToken) + len(s.RefreshToken) + len(claims) + len(s.ID)
	t.Logf("record %d bytes for %d bytes of tokens, claims and id", len(rec), plain)
	if len(rec) > plain/3 {
		t.Errorf("record is %d bytes, more than a third of the %d it holds", len(rec), plain)
	}
	// The split tokens are what makes it small: kept whole they cost more.
	whole := s.Clone()
	whole.AccessToken += "="
	whole.IDToken += "="
	if r2, _ := encodeRecord(whole); len(r2) < len(rec)+300 {
		t.Errorf("unsplit tokens cost only %d bytes more (%d vs %d)", len(r2)-len(rec), len(r2), len(rec))
	}
}

// One encoding leaves nothing behind for the next (the compressors are
// reused): a session without TokenExpiry after one with it comes back as
// itself.
func TestRecordExpIsThisRecords(t *testing.T) {
	s := recordSession(t)
	if _, err := encodeRecord(s); err != nil {
		t.Fatal(err)
	}
	s.TokenExpiry = time.Time{}
	checkRoundTrip(t, s)
}

func TestRecordRefusesClaimsJSONCannotHold(t *testing.T) {
	s := recordSession(t)
	s.Claims = map[string]any{"f": func() {}}
	if _, err := encodeRecord(s); err == nil {
		t.Error("a session whose claims are not JSON was encoded")
	}
}

func TestRecordCorruptIsAnError(t *testing.T) {
	signIn := recordSession(t)
	signIn.ID = "fixed-id" // the same record every run
	for _, s := range []*Session{signIn, {ID: "x", AccessToken: "opaque"}} {
		rec, err := encodeRecord(s)
		if err != nil {
			t.Fatal(err)
		}
		for n := range len(rec) {
			if _, err := decodeRecord(rec[:n]); err == nil {
				t.Fatalf("a record cut to %d of %d bytes decoded", n, len(rec))
			}
		}
		for name, change := range map[string]func(b []byte){
			"another version":   func(b []byte) { b[0] = recordVersion + 1 },
			"an unknown flag":   func(b []byte) { b[1] |= 0x80 },
			"a time of no kind": func(b []byte) { b[len(s.ID)+len(s.Provider)+len(s.Sub)+len(s.SID)+6] = timeLocal + 1 },
			"body flag flipped": func(b []byte) { b[1] ^= flagCompressed },
		} {
			t.Run(name, func(t *testing.T) {
				bad := []byte(rec)
				change(bad)
				if got, err := decodeRecord(string(bad)); err == nil {
					t.Errorf("a record with %s decoded: %+v", name, got)
				}
			})
		}
	}
}

// FuzzRecordDecode: decodeRecord and readRecordKeys take any bytes (valid
// records, cut or changed) without panicking, and when a record decodes,
// readRecordKeys reads the same keys from it.
func FuzzRecordDecode(f *testing.F) {
	for _, s := range []*Session{recordSession(f), {ID: "x"}, shapeSession(f, 1, time.Unix(1767225600, 0), "RS256")} {
		rec, err := encodeRecord(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(rec))
		f.Add([]byte(rec[:len(rec)/2]))
	}
	f.Add([]byte{recordVersion, 0, 1, 'x', 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, rec []byte) {
		s, err := decodeRecord(string(rec))
		k, _, kerr := readRecordKeys(string(rec))
		if err == nil && (kerr != nil || k != (recordKeys{s.ID, s.Provider, s.Sub, s.SID})) {
			t.Errorf("readRecordKeys = %+v, %v; the record decodes with %q, %q, %q, %q", k, kerr, s.ID, s.Provider, s.Sub, s.SID)
		}
	})
}

// FuzzRecordRoundTrip: any session, any token, comes back exactly.
func FuzzRecordRoundTrip(f *testing.F) {
	s := recordSession(f)
	claims, _ := json.Marshal(s.Claims)
	f.Add(s.ID, s.Sub, s.SID, s.AccessToken, s.IDToken, s.RefreshToken, claims, int64(1767225600), int64(5), uint8(0))
	f.Add("x", "", "", "a.b.c", "a..c", "", []byte("null"), int64(-62135596800), int64(0), uint8(7))
	f.Add("y", "s", "t", "eyJhIjoxfQ==.eyJiIjoyfQ.c2lp", "e30.e30.\n", "r", []byte(`{"a":[1,{"b":null}]}`), int64(0), int64(999999999), uint8(2))
	f.Fuzz(func(t *testing.T, id, sub, sid, access, idTok, refresh string, claimsJSON []byte, sec, nsec int64, kinds uint8) {
		if id == "" {
			id = "id"
		}
		s := &Session{ID: id, Provider: "p", Sub: sub, SID: sid, AccessToken: access, IDToken: idTok, RefreshToken: refresh}
		var c map[string]any
		if json.Unmarshal(claimsJSON, &c) == nil {
			s.Claims = c
		}
		ts := time.Unix(sec, nsec%1e9)
		for i, p := range []*time.Time{&s.CreatedAt, &s.TokenExpiry, &s.ExpiresAt} {
			switch (kinds >> (2 * i)) & 3 {
			case 1:
				*p = ts
			case 2:
				*p = ts.UTC()
			case 3:
				*p = ts.Add(time.Duration(i) * time.Hour)
			}
		}
		checkRoundTrip(t, s)
	})
}
