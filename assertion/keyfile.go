package assertion

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// A key file holds the signing keys instead of the session store
// (OUTPOST_ASSERTION__KEY_FILE): PEM private keys, ECDSA P-256 (ES256) or
// RSA of at least 2048 bits (RS256), as PKCS #8 ("PRIVATE KEY"), SEC 1
// ("EC PRIVATE KEY") or PKCS #1 ("RSA PRIVATE KEY"). The first key of each
// algorithm signs; every key is published. The operator rotates: add the
// new key after the old one (published, not signing), wait for verifiers
// to fetch the JWKS again, move it first, and remove the old one once its
// last assertion has expired (the lifetime, 5 minutes at most).

// fileKeys are the keys of a key file, in the file's order.
type fileKeys []*signingKey

// readKeyFile reads and parses the key file at path.
func readKeyFile(path string) (fileKeys, []byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	keys, err := parseKeyFile(raw)
	return keys, raw, err
}

// parseKeyFile parses PEM private keys. Anything else in the file (another
// block type, text that is not PEM, a key of another curve or size) is an
// error naming the block: a file the operator got wrong must not half
// load.
func parseKeyFile(raw []byte) (fileKeys, error) {
	var keys fileKeys
	rest := raw
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		priv, err := parsePEMKey(block)
		if err != nil {
			return nil, fmt.Errorf("block %d (%s): %w", n, block.Type, err)
		}
		alg := ES256
		if _, ok := priv.(*rsa.PrivateKey); ok {
			alg = RS256
		}
		sk, err := newSigningKey(priv, alg)
		if err != nil {
			return nil, fmt.Errorf("block %d (%s): %w", n, block.Type, err)
		}
		keys = append(keys, sk)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		if len(keys) == 0 {
			return nil, errors.New("no PEM block in the file: want PEM private keys (-----BEGIN PRIVATE KEY-----)")
		}
		return nil, fmt.Errorf("text after block %d, or a block that does not decode", len(keys))
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM private key in the file")
	}
	return keys, nil
}

func parsePEMKey(block *pem.Block) (any, error) {
	if len(block.Headers) > 0 {
		return nil, errors.New("encrypted or annotated PEM blocks are not read: store the key unencrypted, readable by the outpost only")
	}
	switch block.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		switch k.(type) {
		case *ecdsa.PrivateKey, *rsa.PrivateKey:
			return k, nil
		}
		return nil, fmt.Errorf("a %T key: want ECDSA P-256 or RSA", k)
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	}
	return nil, errors.New("not a private key block (want PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY)")
}

// CheckKeyFile reads the key file at path as the outpost will: for the
// configuration's check at start.
func CheckKeyFile(path string) error {
	_, _, err := readKeyFile(path)
	return err
}

// signers are the first key of each algorithm.
func (f fileKeys) signers() map[string]*signingKey {
	out := map[string]*signingKey{}
	for _, sk := range f {
		if out[sk.alg] == nil {
			out[sk.alg] = sk
		}
	}
	return out
}

// refreshFile reads the key file again (k.mu held) and, when it changed,
// puts its keys in force. A file that no longer parses keeps the keys read
// before: they stay valid, and the error is returned (logged, counted). It
// also fails while an algorithm a provider wants has no key in the file:
// those providers' requests are refused.
func (k *Keys) refreshFile() error {
	keys, raw, err := readKeyFile(k.opts.File)
	if err != nil {
		if k.opts.OnError != nil {
			k.opts.OnError()
		}
		if k.fileRaw != nil {
			return fmt.Errorf("key file %s: %w (the keys read before still sign)", k.opts.File, err)
		}
		return fmt.Errorf("key file %s: %w", k.opts.File, err)
	}
	if !bytes.Equal(raw, k.fileRaw) {
		k.fileRaw = raw
		signers := keys.signers()
		var set jose.JSONWebKeySet
		for _, sk := range keys {
			set.Keys = append(set.Keys, sk.public)
		}
		for alg, sk := range signers {
			if k.current[alg] == sk.kid {
				continue
			}
			if k.current[alg] != "" && k.opts.OnRotate != nil {
				k.opts.OnRotate(alg)
			}
			k.opts.Log.Info("identity assertion: signing with a new key", "alg", alg, "kid", sk.kid, "from", k.opts.File)
			k.current[alg] = sk.kid
		}
		k.gens++
		k.state.Store(&keyState{fixed: signers, jwks: encodeJWKS(set), gen: k.gens})
	}
	var missing []string
	for alg := range k.wanted {
		if k.state.Load().fixed[alg] == nil {
			missing = append(missing, alg)
		}
	}
	if len(missing) > 0 {
		if k.opts.OnError != nil {
			k.opts.OnError()
		}
		slices.Sort(missing)
		return fmt.Errorf("key file %s has no %s key: the providers that sign with it are refused", k.opts.File, strings.Join(missing, " or "))
	}
	return nil
}
