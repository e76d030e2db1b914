package assertion

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/outpost-dev/outpost/session"
)

// Keys are the signing keys in force and the JWKS that publishes them.
//
// Time is cut into rotation periods (epochs: Unix time / Rotate). The key of
// epoch N signs during N and is stored under a name made of the algorithm,
// the period and N, written by the first replica that needs it
// (session.KeyStore's create-if-absent) and read by the others, so every
// replica signs with the same key. The JWKS publishes the keys of N-1 (its
// tokens are still valid: they live at most Lifetime, and Rotate is at
// least twice that), N, and N+1, created and published a whole period
// before it signs, so a verifier that cached the JWKS knows it already.
type Keys struct {
	opts KeysOptions
	// state is what signing and the JWKS read: replaced whole, never
	// changed.
	state atomic.Pointer[keyState]

	mu     sync.Mutex // guards wanted, loaded, current; one refresh at a time
	wanted map[string]bool
	loaded map[string]map[int64]*signingKey
	// current is the kid that signed last per algorithm, to see rotations.
	current map[string]string
	// fileRaw is the key file as last parsed (KeysOptions.File).
	fileRaw []byte
	// gens counts the key sets published.
	gens uint64

	poke     chan struct{}
	stop     chan struct{}
	done     chan struct{}
	started  sync.Once
	stopOnce sync.Once
}

// KeysOptions configure Keys.
type KeysOptions struct {
	// Store is where the keys are shared; every replica using the same
	// store signs with the same keys.
	Store session.KeyStore
	// File, if set, is a key file (keyfile.go) that holds the keys
	// instead of Store: read at Want, and again whenever it changes; the
	// operator rotates the keys, Rotate is not used.
	File string
	// Rotate is the rotation period (default DefaultRotate).
	Rotate time.Duration
	// Lifetime is the longest an assertion lives (default DefaultLifetime):
	// a key is stored until its last token expired.
	Lifetime time.Duration
	Log      *slog.Logger
	// OnRotate, if set, is called when a new key starts signing for alg.
	OnRotate func(alg string)
	// OnError, if set, is called when the keys could not be loaded or
	// made (the store did not answer, or holds a key that does not parse).
	OnError func()
	// Now is the clock; tests may replace it.
	Now func() time.Time
}

// keyState is one immutable view of the keys.
type keyState struct {
	byAlg map[string]map[int64]*signingKey
	// fixed, from a key file, is the key that signs per algorithm,
	// whatever the time.
	fixed map[string]*signingKey
	jwks  []byte
	// gen changes with the published keys: cached assertions signed
	// under another generation are signed again.
	gen uint64
}

// signingKey is one key: its signer and its public half.
type signingKey struct {
	kid    string
	alg    string
	epoch  int64
	signer jose.Signer
	public jose.JSONWebKey
}

// ErrNoKey: no key signs for the algorithm now (the store has not
// answered, or the keys have not been loaded yet). Callers deny.
var ErrNoKey = errors.New("no signing key for now (the key store has not answered yet)")

// NewKeys makes the key set; nothing is loaded before Want.
func NewKeys(opts KeysOptions) (*Keys, error) {
	if opts.Store == nil && opts.File == "" {
		return nil, errors.New("assertion keys: no key store and no key file")
	}
	if opts.Rotate <= 0 {
		opts.Rotate = DefaultRotate
	}
	if opts.Lifetime <= 0 {
		opts.Lifetime = DefaultLifetime
	}
	if opts.Rotate < 2*opts.Lifetime {
		return nil, fmt.Errorf("assertion keys: rotation every %s must be at least twice the lifetime %s", opts.Rotate, opts.Lifetime)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	k := &Keys{opts: opts, wanted: map[string]bool{}, loaded: map[string]map[int64]*signingKey{}, current: map[string]string{},
		poke: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	k.state.Store(&keyState{byAlg: map[string]map[int64]*signingKey{}, jwks: emptyJWKS})
	return k, nil
}

var emptyJWKS = []byte(`{"keys":[]}`)

// Lifetime is the longest an assertion lives.
func (k *Keys) Lifetime() time.Duration { return k.opts.Lifetime }

// Want makes the keys for alg load now (within ctx) and stay loaded, and
// starts the background refresh. An error is logged and retried; signing
// fails (and requests are refused) until it succeeds.
func (k *Keys) Want(ctx context.Context, alg string) {
	k.mu.Lock()
	known := k.wanted[alg]
	k.wanted[alg] = true
	k.mu.Unlock()
	if !known {
		if err := k.Refresh(ctx); err != nil {
			k.opts.Log.Error("identity assertion: signing keys not loaded; requests to providers with the assertion are refused until they are", "alg", alg, "error", err)
		}
	}
	k.started.Do(func() { go k.run() })
}

// Close stops the background refresh.
func (k *Keys) Close() {
	k.stopOnce.Do(func() { close(k.stop) })
	// Only wait for a loop that was started.
	started := true
	k.started.Do(func() { started = false })
	if started {
		<-k.done
	}
}

// refreshEvery is how often the keys are checked: often enough that the
// next period's key is published long before it signs.
func (k *Keys) refreshEvery() time.Duration {
	if k.opts.File != "" {
		return keyFilePoll
	}
	return min(max(k.opts.Rotate/8, 50*time.Millisecond), time.Minute)
}

// keyFilePoll is how often a key file is read again: a Kubernetes Secret
// mounted as a file changes under the process (through a symlink swap
// that file-change notifications miss), and reading a few keys is cheap.
const keyFilePoll = 2 * time.Second

func (k *Keys) run() {
	defer close(k.done)
	t := time.NewTicker(k.refreshEvery())
	defer t.Stop()
	failing := false
	for {
		select {
		case <-k.stop:
			return
		case <-t.C:
		case <-k.poke:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := k.Refresh(ctx)
		cancel()
		switch {
		case err != nil && !failing:
			k.opts.Log.Error("identity assertion: signing keys could not be refreshed (retrying)", "error", err)
		case err == nil && failing:
			k.opts.Log.Info("identity assertion: signing keys refreshed again")
		}
		failing = err != nil
	}
}

func (k *Keys) epoch(t time.Time) int64 { return t.UnixNano() / int64(k.opts.Rotate) }

func (k *Keys) epochStart(e int64) time.Time { return time.Unix(0, e*int64(k.opts.Rotate)) }

// name is where the key of alg for epoch e is stored: the period is part
// of it, so replicas configured with different periods never read one
// key as two different periods'.
func (k *Keys) name(alg string, e int64) string {
	return fmt.Sprintf("assertion/%s/%d/%d", alg, k.opts.Rotate.Milliseconds(), e)
}

// Refresh loads the previous, current and next period's keys of every
// algorithm wanted, making those of the current and next periods where
// no replica has yet.
func (k *Keys) Refresh(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.opts.File != "" {
		return k.refreshFile()
	}
	now := k.opts.Now()
	cur := k.epoch(now)
	var errs []error
	for alg := range k.wanted {
		ring := k.loaded[alg]
		if ring == nil {
			ring = map[int64]*signingKey{}
			k.loaded[alg] = ring
		}
		for e := range ring {
			if e < cur-1 {
				delete(ring, e)
			}
		}
		for e := cur - 1; e <= cur+1; e++ {
			if ring[e] != nil {
				continue
			}
			sk, err := k.load(ctx, alg, e, e >= cur)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if sk != nil {
				ring[e] = sk
			}
		}
		if sk := ring[cur]; sk != nil && k.current[alg] != sk.kid {
			if k.current[alg] != "" && k.opts.OnRotate != nil {
				k.opts.OnRotate(alg)
			}
			k.opts.Log.Info("identity assertion: signing with a new key", "alg", alg, "kid", sk.kid, "until", k.epochStart(cur+1).UTC().Format(time.RFC3339))
			k.current[alg] = sk.kid
		}
	}
	k.publish()
	if len(errs) > 0 {
		if k.opts.OnError != nil {
			k.opts.OnError()
		}
		return errors.Join(errs...)
	}
	return nil
}

// load reads the key of alg for epoch e, making and storing one when none
// is stored and create is set. It returns nil, nil for a missing key it
// must not create (the previous period's, made before this replica).
func (k *Keys) load(ctx context.Context, alg string, e int64, create bool) (*signingKey, error) {
	name := k.name(alg, e)
	raw, err := k.opts.Store.Key(ctx, name)
	if errors.Is(err, session.ErrNotFound) {
		if !create {
			return nil, nil
		}
		fresh, gerr := generate(alg)
		if gerr != nil {
			return nil, gerr
		}
		// Stored until its last token expired, with a minute for clocks.
		expires := k.epochStart(e + 2).Add(k.opts.Lifetime + time.Minute)
		raw, err = k.opts.Store.AddKey(ctx, name, fresh, expires)
	}
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", name, err)
	}
	sk, err := parseKey(raw, alg)
	if err != nil {
		return nil, fmt.Errorf("signing key %s in the store: %w", name, err)
	}
	sk.epoch = e
	return sk, nil
}

// publish replaces the state with what is loaded.
func (k *Keys) publish() {
	st := &keyState{byAlg: make(map[string]map[int64]*signingKey, len(k.loaded))}
	var set jose.JSONWebKeySet
	for alg, ring := range k.loaded {
		copied := make(map[int64]*signingKey, len(ring))
		for e, sk := range ring {
			copied[e] = sk
			set.Keys = append(set.Keys, sk.public)
		}
		st.byAlg[alg] = copied
	}
	st.jwks = encodeJWKS(set)
	if old := k.state.Load(); string(old.jwks) == string(st.jwks) {
		st.gen = old.gen
	} else {
		k.gens++
		st.gen = k.gens
	}
	k.state.Store(st)
}

// encodeJWKS is set as JSON, in a stable order (by algorithm, then kid).
func encodeJWKS(set jose.JSONWebKeySet) []byte {
	slices.SortFunc(set.Keys, func(a, b jose.JSONWebKey) int {
		if c := cmpString(a.Algorithm, b.Algorithm); c != 0 {
			return c
		}
		return cmpString(a.KeyID, b.KeyID)
	})
	if len(set.Keys) > 0 {
		if b, err := json.Marshal(set); err == nil {
			return b
		}
	}
	return emptyJWKS
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// signer is the key that signs for alg now, or ErrNoKey (and a refresh is
// asked for).
func (k *Keys) signer(alg string) (*signingKey, error) {
	st := k.state.Load()
	if sk := st.fixed[alg]; sk != nil {
		return sk, nil
	}
	if sk := st.byAlg[alg][k.epoch(k.opts.Now())]; st.fixed == nil && sk != nil {
		return sk, nil
	}
	select {
	case k.poke <- struct{}{}:
	default:
	}
	return nil, ErrNoKey
}

// JWKS is the JSON Web Key Set of the public keys: the document served at
// /.well-known/jwks.json. Read-only.
func (k *Keys) JWKS() []byte { return k.state.Load().jwks }

// generate makes a private key for alg, as its JWK JSON.
func generate(alg string) ([]byte, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return nil, fmt.Errorf("unknown algorithm %q", alg)
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(jose.JSONWebKey{Key: priv, Algorithm: alg, Use: "sig"})
}

// parseKey reads a stored private JWK and checks that it is a key for alg.
func parseKey(raw []byte, alg string) (*signingKey, error) {
	var jwk jose.JSONWebKey
	if err := json.Unmarshal(raw, &jwk); err != nil {
		return nil, fmt.Errorf("not a JSON web key: %w", err)
	}
	return newSigningKey(jwk.Key, alg)
}

// newSigningKey is the signer and public JWK of priv, which must be a
// private key of alg's type; its kid is the RFC 7638 thumbprint.
func newSigningKey(priv any, alg string) (*signingKey, error) {
	switch p := priv.(type) {
	case *ecdsa.PrivateKey:
		if alg != ES256 || p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("an ECDSA key on %s is not an %s key", p.Curve.Params().Name, alg)
		}
	case *rsa.PrivateKey:
		if alg != RS256 || p.N.BitLen() < 2048 {
			return nil, fmt.Errorf("an RSA key of %d bits is not an %s key (RS256 needs at least 2048)", p.N.BitLen(), alg)
		}
	default:
		return nil, fmt.Errorf("not a private key for %s", alg)
	}
	signer := priv.(crypto.Signer)
	pub := jose.JSONWebKey{Key: signer.Public(), Algorithm: alg, Use: "sig"}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, err
	}
	pub.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: priv},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), pub.KeyID))
	if err != nil {
		return nil, err
	}
	return &signingKey{kid: pub.KeyID, alg: alg, signer: s, public: pub}, nil
}

// Published reports whether the JWKS holds a key.
func (k *Keys) Published() bool {
	st := k.state.Load()
	return (len(st.byAlg) > 0 || len(st.fixed) > 0) && string(st.jwks) != string(emptyJWKS)
}

// Rotate is the rotation period.
func (k *Keys) Rotate() time.Duration { return k.opts.Rotate }
