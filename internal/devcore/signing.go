package devcore

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/outpost-dev/outpost/internal/jwtsign"
)

// A provider with a signing_key signs its tokens with that certificate's
// private key (RS256 for RSA, ES256 for P-256), as authentik's OAuth2
// provider does, and publishes the public key in its JWKS. That makes the
// devcore a plain OpenID Connect issuer a standalone outpost can verify:
// without one, tokens are HS256 with the client secret (a proxy provider).

// parseSigningKey reads the private key of a keypair and picks the JWS
// algorithm its type implies.
func parseSigningKey(m certMaterial) (*jwtsign.Key, error) {
	if m.keyPEM == "" {
		return nil, errors.New("the certificate has no private key")
	}
	b, _ := pem.Decode([]byte(m.keyPEM))
	if b == nil {
		return nil, errors.New("the private key is not PEM")
	}
	var key any
	var err error
	switch b.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(b.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	}
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T cannot sign tokens (want an RSA or P-256 key)", key)
	}
	// The key id is the certificate's SHA-256 fingerprint: stable as long as
	// the keypair is, and different when it is rotated.
	return jwtsign.NewKey(signer, strings.ReplaceAll(m.fingerprintSHA256, ":", ""))
}

// signingKeyOf is the provider's signing key, or nil for HS256.
func signingKeyOf(cfg *Config, pc *ProviderConfig) *jwtsign.Key {
	if pc.SigningKey == "" {
		return nil
	}
	i, ok := cfg.certNameIdx[pc.SigningKey]
	if !ok {
		return nil
	}
	return cfg.Certificates[i].material.signer
}

// signingAlg is what discovery advertises for the provider.
func signingAlg(cfg *Config, pc *ProviderConfig) string {
	if k := signingKeyOf(cfg, pc); k != nil {
		return string(k.Alg)
	}
	return "HS256"
}

// signToken signs claims for the provider: with its signing key, else HS256
// keyed with the client secret.
func signToken(cfg *Config, pc *ProviderConfig, claims map[string]any) (string, error) {
	k := signingKeyOf(cfg, pc)
	if k == nil {
		return signHS256(pc.ClientSecret, claims)
	}
	return k.Sign(claims)
}

// verifyToken checks a token the provider signed and returns its claims.
// Time claims are not checked (callers decide).
func verifyToken(cfg *Config, pc *ProviderConfig, token string) (map[string]any, error) {
	k := signingKeyOf(cfg, pc)
	if k == nil {
		return verifyHS256(pc.ClientSecret, token)
	}
	var c map[string]any
	if err := k.Verify(token, &c); err != nil {
		return nil, err
	}
	return c, nil
}

// handleJWKS is GET /application/o/<slug>/jwks/: the public signing key, or
// no key at all for a provider signing HS256 with its client secret.
func (p *identityProvider) handleJWKS(w http.ResponseWriter, r *http.Request) {
	cfg := p.s.config()
	pc := providerBySlug(cfg, r.PathValue("slug"))
	if pc == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"detail": "Not found."})
		return
	}
	writeJSON(w, http.StatusOK, jwtsign.Set(signingKeyOf(cfg, pc)))
}
