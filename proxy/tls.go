package proxy

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outpost-dev/outpost/outpostapi"
)

// HTTPS on :9443 (spec §15): the certificate of the provider whose external
// host is the TLS server name, else a self-signed fallback.

// tlsKeepAlive is the TCP keep-alive period of the HTTPS listener (spec §15).
const tlsKeepAlive = 3 * time.Minute

// The fallback certificate, as the reference generates it.
const (
	fallbackCommonName   = "authentik default certificate"
	fallbackOrganization = "authentik"
)

// FallbackCertificate generates the certificate served when no provider's
// certificate matches the server name (or none was sent): self-signed
// RSA-2048, CN "authentik default certificate", O "authentik", SAN "*",
// valid for a year. Clients will not trust it; it only keeps the port usable.
func FallbackCertificate() (*tls.Certificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: fallbackCommonName, Organization: []string{fallbackOrganization}},
		DNSNames:              []string{"*"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// Certificates chooses the certificate of each TLS handshake from the
// snapshot in force. The certificates of a snapshot are parsed once, at the
// first handshake that sees it (and an unchanged keypair is not parsed again
// for the next snapshot); a handshake after that is a map lookup.
type Certificates struct {
	snapshot func() *outpostapi.Snapshot
	fallback *tls.Certificate
	log      *slog.Logger

	mu    sync.Mutex // one rebuild at a time
	table atomic.Pointer[certTable]
}

// certTable is what one snapshot serves.
type certTable struct {
	snap   *outpostapi.Snapshot
	byName map[string]*tls.Certificate // lower-case host name → certificate
	// parsed holds every keypair parsed for snap, by content, so the next
	// table reuses what did not change.
	parsed map[[sha256.Size]byte]*tls.Certificate
}

// NewCertificates serves the certificates of the snapshot snapshot returns
// (Server.Snapshot; nil before the first one) and fallback for every other
// name.
func NewCertificates(snapshot func() *outpostapi.Snapshot, fallback *tls.Certificate, log *slog.Logger) *Certificates {
	if log == nil {
		log = slog.Default()
	}
	return &Certificates{snapshot: snapshot, fallback: fallback, log: log}
}

// GetCertificate is tls.Config.GetCertificate: exact match of the server
// name on a provider's external host (spec §15), else the fallback. It never
// fails a handshake for want of a certificate.
func (c *Certificates) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if name := serverNameKey(hello.ServerName); name != "" {
		if cert := c.current().byName[name]; cert != nil {
			return cert, nil
		}
	}
	return c.fallback, nil
}

// serverNameKey normalises a TLS server name for lookup: lower case, without
// a trailing dot.
func serverNameKey(name string) string {
	return strings.TrimSuffix(strings.ToLower(name), ".")
}

// current is the table of the snapshot in force, built on first use.
func (c *Certificates) current() *certTable {
	snap := c.snapshot()
	if t := c.table.Load(); t != nil && t.snap == snap {
		return t
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	prev := c.table.Load()
	if prev != nil && prev.snap == snap {
		return prev
	}
	t := buildCertTable(snap, prev, c.log)
	c.table.Store(t)
	return t
}

// buildCertTable maps each provider's external host name to its
// certificate. A host whose external URL has a port is never an SNI match;
// on a duplicate host the later provider wins, as in routing. A keypair that
// cannot be used is logged and its host gets the fallback.
func buildCertTable(snap *outpostapi.Snapshot, prev *certTable, log *slog.Logger) *certTable {
	t := &certTable{snap: snap, byName: map[string]*tls.Certificate{}, parsed: map[[sha256.Size]byte]*tls.Certificate{}}
	if snap == nil {
		return t
	}
	for i := range snap.Providers {
		p := &snap.Providers[i]
		if p.ExternalURL == nil || p.ExternalURL.Port() != "" {
			continue
		}
		name := serverNameKey(p.ExternalURL.Hostname())
		delete(t.byName, name)
		if p.Certificate == nil || *p.Certificate == "" {
			continue
		}
		kp, ok := snap.Certificates[*p.Certificate]
		if !ok {
			log.Error("TLS: the provider's certificate is not in the configuration; serving the fallback certificate",
				"provider", p.Name, "host", name, "certificate", *p.Certificate)
			continue
		}
		cert, err := t.keyPair(kp, prev)
		if err != nil {
			log.Error("TLS: the provider's certificate cannot be served; serving the fallback certificate",
				"provider", p.Name, "host", name, "certificate", kp.UUID, "error", err)
			continue
		}
		t.byName[name] = cert
	}
	return t
}

// keyPair parses kp, or reuses the copy prev (or t) already parsed.
func (t *certTable) keyPair(kp outpostapi.Certificate, prev *certTable) (*tls.Certificate, error) {
	h := sha256.New()
	h.Write([]byte(kp.CertPEM))
	h.Write([]byte{0})
	h.Write([]byte(kp.KeyPEM))
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	if cert := t.parsed[sum]; cert != nil {
		return cert, nil
	}
	if prev != nil {
		if cert := prev.parsed[sum]; cert != nil {
			t.parsed[sum] = cert
			return cert, nil
		}
	}
	if strings.TrimSpace(kp.KeyPEM) == "" {
		return nil, errors.New("the keypair has no private key")
	}
	cert, err := tls.X509KeyPair([]byte(kp.CertPEM), []byte(kp.KeyPEM))
	if err != nil {
		return nil, err
	}
	t.parsed[sum] = &cert
	return &cert, nil
}

// TLSConfig is the HTTPS listener's configuration (spec §15): TLS 1.2 or
// newer, curves X25519, P-256 and P-384, Go's secure TLS 1.2 cipher suites
// without ChaCha20-Poly1305 (TLS 1.3 suites are not configurable in Go), and
// HTTP/2 or HTTP/1.1.
func TLSConfig(getCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS12,
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384},
		CipherSuites:     tlsCipherSuites(),
		GetCertificate:   getCertificate,
		NextProtos:       []string{"h2", "http/1.1"},
	}
}

// tlsCipherSuites is Go's list of secure TLS 1.2 suites minus ChaCha20-
// Poly1305 and 3DES (the latter is not in the secure list anyway).
func tlsCipherSuites() []uint16 {
	var ids []uint16
	for _, s := range tls.CipherSuites() {
		if !slices.Contains(s.SupportedVersions, tls.VersionTLS12) {
			continue
		}
		if strings.Contains(s.Name, "CHACHA20") || strings.Contains(s.Name, "3DES") {
			continue
		}
		ids = append(ids, s.ID)
	}
	return ids
}

// ListenTLS opens the HTTPS listener at addr: TCP keep-alive of 3 minutes, a
// PROXY protocol header read only from trusted peers (before TLS, as a load
// balancer sends it), then TLS with cfg.
func ListenTLS(addr string, trusted []netip.Prefix, cfg *tls.Config) (net.Listener, error) {
	return ListenTLSWith(addr, trusted, cfg, nil)
}

// ListenTLSWith is ListenTLS with wrap, if set, around the raw TCP listener
// (ConnLimit.Listener: it must see the peer before PROXY and TLS).
func ListenTLSWith(addr string, trusted []netip.Prefix, cfg *tls.Config, wrap func(net.Listener) net.Listener) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: tlsKeepAlive}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	if wrap != nil {
		ln = wrap(ln)
	}
	if cfg == nil || cfg.GetCertificate == nil && len(cfg.Certificates) == 0 {
		_ = ln.Close()
		return nil, fmt.Errorf("listening on %s: TLS configuration without certificates", addr)
	}
	return tls.NewListener(ProxyProtocolListener(ln, trusted), cfg), nil
}
