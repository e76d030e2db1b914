// Package sessionshape makes sessions shaped like real sign-ins, for the
// session benchmarks: the scale check of the benchmark harness and the
// record size tests of package session measure the same sessions. It does
// not import package session (whose own tests use it); callers build a
// session.Session from Fields.
package sessionshape

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
	"time"
)

// Secret is the provider's client secret, the HS256 key.
const Secret = "bench-client-secret-0123456789abcdef"

// Provider is the client id of the provider every session belongs to.
const Provider = "app-client"

// Fields are a session's fields, but for its id.
type Fields struct {
	Provider, Sub, SID                 string
	Claims                             map[string]any
	AccessToken, IDToken, RefreshToken string
	TokenExpiry, CreatedAt, ExpiresAt  time.Time
}

// Make is session i as a sign-in at the devcore stores it: an ID token and
// an access token as the devcore issues them (internal/devcore
// tokens.go: the ID token claims of the default scopes, the access token
// the same plus azp, uid and scope), signed with alg ("HS256", or "RS256"
// as authentik signs with a certificate: a key id and a random 256-byte
// signature, right in size, not verifiable), a refresh token like the
// devcore's, and the claims as the outpost keeps them (the access token's,
// decoded). Everything that differs between people differs here: sub,
// sid, nonce, uid, names, e-mail, times and signatures, so nothing
// compresses better than it would in production. Sessions are the same for
// the same i, now and alg.
func Make(i int, now time.Time, alg string) (Fields, error) {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], uint64(i))
	rng := rand.NewChaCha8(seed)
	random := func(n int) []byte { b := make([]byte, n); _, _ = rng.Read(b); return b }

	user := fmt.Sprintf("user%07d", i)
	sum := sha256.Sum256([]byte(user + "-devcore"))
	sub := hex.EncodeToString(sum[:])
	sum = sha256.Sum256([]byte(hex.EncodeToString(random(32)))) // the core session's key
	sid := hex.EncodeToString(sum[:])
	// Sign-ins are spread over the last 12 hours; tokens live a day (the
	// devcore's default access token validity).
	iat := now.Add(-time.Duration(i%43200) * time.Second).Unix()
	authTime := iat - int64(i%7)
	exp := iat + 86400
	id := map[string]any{
		"iss": "http://core.example.com/application/o/app/", "sub": sub, "aud": Provider,
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
	access["azp"] = Provider
	access["uid"] = hex.EncodeToString(random(20))
	access["scope"] = "openid email profile entitlements ak_proxy offline_access"
	accessToken, err := Sign(alg, access, random)
	if err != nil {
		return Fields{}, err
	}
	idToken, err := Sign(alg, id, random)
	if err != nil {
		return Fields{}, err
	}
	var claims map[string]any
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(accessToken, ".")[1])
	if err := json.Unmarshal(payload, &claims); err != nil {
		return Fields{}, err
	}
	return Fields{
		Provider: Provider, Claims: claims, Sub: sub, SID: sid,
		AccessToken: accessToken, IDToken: idToken, RefreshToken: hex.EncodeToString(random(32)),
		TokenExpiry: time.Unix(exp, 0), CreatedAt: time.Unix(iat, 0), ExpiresAt: time.Unix(exp, 0),
	}, nil
}

// Sign makes a compact JWT of claims: HS256 as go-jose signs it (what the
// devcore uses), or RS256 with a signature of random bytes.
func Sign(alg string, claims map[string]any, random func(int) []byte) (string, error) {
	header := `{"alg":"HS256","typ":"JWT"}`
	if alg == "RS256" {
		header = `{"alg":"RS256","kid":"8d9c5a2b0e4f4e6b9a1c3d5e7f901234","typ":"JWT"}`
	}
	body, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signed := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString(body)
	var sig []byte
	switch alg {
	case "HS256":
		mac := hmac.New(sha256.New, []byte(Secret))
		mac.Write([]byte(signed))
		sig = mac.Sum(nil)
	case "RS256":
		sig = random(256)
	default:
		return "", fmt.Errorf("unknown token algorithm %q (want HS256 or RS256)", alg)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
