// Package jwtsign signs and checks the JWTs that the stand-in issuers
// (internal/devcore and internal/testissuer) hand out, and publishes their
// public keys: the one piece of an OpenID Connect issuer both need and
// should not write twice. It is for stand-ins; the outpost verifies tokens
// with go-oidc.
package jwtsign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Key is a private signing key with its JWS algorithm and key id.
type Key struct {
	Alg    jose.SignatureAlgorithm
	ID     string
	signer jose.Signer
	key    crypto.Signer
}

// NewKey picks the algorithm the key's type implies, RS256 for RSA of at
// least 2048 bits and ES256 for P-256, and refuses any other key.
func NewKey(key crypto.Signer, id string) (*Key, error) {
	var alg jose.SignatureAlgorithm
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("the RSA key has %d bits; RS256 needs at least 2048", k.N.BitLen())
		}
		alg = jose.RS256
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("only P-256 EC keys can sign (ES256)")
		}
		alg = jose.ES256
	default:
		return nil, fmt.Errorf("a %T cannot sign tokens (want an RSA or P-256 key)", key)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: id}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, err
	}
	return &Key{Alg: alg, ID: id, signer: signer, key: key}, nil
}

// Sign serializes claims as a compact JWT signed with the key.
func (k *Key) Sign(claims any) (string, error) {
	return jwt.Signed(k.signer).Claims(claims).Serialize()
}

// Verify checks that token is a JWT this key signed, with its algorithm,
// and decodes its claims into out. Time claims are not checked: callers
// decide what an expired token means to them.
func (k *Key) Verify(token string, out any) error {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{k.Alg})
	if err != nil {
		return err
	}
	return tok.Claims(k.key.Public(), out)
}

// Public is the key as a JWKS entry: public part, key id, algorithm, use.
func (k *Key) Public() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.key.Public(), KeyID: k.ID, Algorithm: string(k.Alg), Use: "sig"}
}

// Set is the JWKS document publishing keys (none: an empty set, never
// null, which some clients refuse).
func Set(keys ...*Key) jose.JSONWebKeySet {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range keys {
		if k != nil {
			set.Keys = append(set.Keys, k.Public())
		}
	}
	return set
}
