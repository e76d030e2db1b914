package devcore

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/outpost-dev/outpost/internal/jwtsign"
	"github.com/outpost-dev/outpost/outpostapi"
)

// certMaterial is a keypair as the API serves it.
type certMaterial struct {
	certPEM string // the certificate chain, leaf first
	keyPEM  string // "" for a certificate without key
	// Fingerprints of the leaf's DER as authentik shows them: lower-case hex
	// bytes joined by ':' (Python's hexlify(digest, ":")).
	fingerprintSHA256 string
	fingerprintSHA1   string
	notAfter          time.Time
	subject           string
	keyType           string // authentik's KeyTypeEnum: rsa, ec, dsa, ed25519; "" unknown
	// generated is set for self-signed certificates made at load; hosts is
	// what they were made for, so a reload can keep an unchanged one.
	generated bool
	hosts     []string
	// signer is the parsed private key when a provider signs with it.
	signer *jwtsign.Key
}

// loadCertificates reads or generates every certificate's material. It runs
// after the providers are checked: a generated certificate without hosts
// covers the hosts of the providers that use it.
func (c *Config) loadCertificates() error {
	for i := range c.Certificates {
		cc := &c.Certificates[i]
		label := func(f string) string { return fmt.Sprintf("certificates[%d].%s", i, f) }
		path := func(f string) []any { return []any{"certificates", i, f} }
		if cc.CertFile != "" {
			if cc.KeyType != "" {
				return c.fieldErr(label("key_type"), path("key_type"), "only for generated certificates; the key of key_file has its own type")
			}
			m, field, err := loadCertFiles(c.resolvePath(cc.CertFile), c.resolvePath(cc.KeyFile))
			if err != nil {
				return c.fieldErr(label(field), path(field), "%v", err)
			}
			cc.material = m
			if err := c.prepareSigner(cc); err != nil {
				return c.fieldErr(label("key_file"), path("key_file"), "%v", err)
			}
			continue
		}
		switch cc.KeyType {
		case "", "ec", "rsa":
		default:
			return c.fieldErr(label("key_type"), path("key_type"), "%q: want ec or rsa", cc.KeyType)
		}
		hosts := slices.Clone(cc.Hosts)
		for j, h := range hosts {
			if strings.TrimSpace(h) == "" {
				return c.fieldErr(fmt.Sprintf("certificates[%d].hosts[%d]", i, j), []any{"certificates", i, "hosts", j}, "must not be empty")
			}
		}
		if len(hosts) == 0 {
			hosts = c.providerHostsUsing(cc.Name)
		}
		m, err := generateSelfSigned(cc.Name, hosts, cc.KeyType)
		if err != nil {
			return c.fieldErr(label("hosts"), path("hosts"), "generating a self-signed certificate: %v", err)
		}
		cc.material = m
		if err := c.prepareSigner(cc); err != nil {
			return c.fieldErr(label("key_type"), path("key_type"), "%v", err)
		}
	}
	return nil
}

// prepareSigner parses the certificate's private key when a provider signs
// with it, so a key that cannot sign is refused at load, not at sign-in.
func (c *Config) prepareSigner(cc *CertificateConfig) error {
	cc.material.signer = nil
	for _, p := range c.Providers {
		if p.SigningKey != cc.Name {
			continue
		}
		k, err := parseSigningKey(cc.material)
		if err != nil {
			return fmt.Errorf("cannot be the signing_key of provider %q: %v", p.Name, err)
		}
		cc.material.signer = k
		return nil
	}
	return nil
}

func (c *Config) resolvePath(p string) string {
	if p == "" || filepath.IsAbs(p) || c.baseDir == "" {
		return p
	}
	return filepath.Join(c.baseDir, p)
}

// providerHostsUsing lists, sorted, the external hostnames of the providers
// that reference the certificate named name.
func (c *Config) providerHostsUsing(name string) []string {
	var hosts []string
	for _, p := range c.Providers {
		if p.Certificate != name {
			continue
		}
		if u, err := url.Parse(p.ExternalHost); err == nil && u.Hostname() != "" {
			hosts = append(hosts, u.Hostname())
		}
	}
	slices.Sort(hosts)
	return slices.Compact(hosts)
}

// loadCertFiles reads a PEM chain and, if keyFile is set, its private key.
// On error it also names the field at fault.
func loadCertFiles(certFile, keyFile string) (certMaterial, string, error) {
	certPEM, err := outpostapi.ReadPEMFile(certFile)
	if err != nil {
		return certMaterial{}, "cert_file", err
	}
	var chain []byte
	var leaf *x509.Certificate
	rest := certPEM
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if leaf == nil {
			if leaf, err = x509.ParseCertificate(b.Bytes); err != nil {
				return certMaterial{}, "cert_file", err
			}
		}
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b.Bytes})...)
	}
	if leaf == nil {
		return certMaterial{}, "cert_file", fmt.Errorf("%s holds no PEM CERTIFICATE block", certFile)
	}
	m := describeCert(leaf)
	m.certPEM = string(chain)
	if keyFile != "" {
		keyPEM, err := outpostapi.ReadPEMFile(keyFile)
		if err != nil {
			return certMaterial{}, "key_file", err
		}
		// X509KeyPair checks that the key belongs to the leaf.
		if _, err := tls.X509KeyPair(chain, keyPEM); err != nil {
			return certMaterial{}, "key_file", err
		}
		m.keyPEM = string(keyPEM)
	}
	return m, "", nil
}

// generateSelfSigned makes a certificate for hosts (DNS names or IP
// addresses), valid for a year, with an ECDSA P-256 key, or RSA 2048 when
// keyType is "rsa".
func generateSelfSigned(name string, hosts []string, keyType string) (certMaterial, error) {
	var key crypto.Signer
	var err error
	if keyType == "rsa" {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return certMaterial{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return certMaterial{}, err
	}
	cn := name
	if len(hosts) > 0 {
		cn = hosts[0]
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"devcore"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return certMaterial{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return certMaterial{}, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return certMaterial{}, err
	}
	m := describeCert(leaf)
	m.certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	m.keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))
	m.generated = true
	m.hosts = slices.Clone(hosts)
	return m, nil
}

func describeCert(leaf *x509.Certificate) certMaterial {
	s256 := sha256.Sum256(leaf.Raw)
	s1 := sha1.Sum(leaf.Raw)
	m := certMaterial{
		fingerprintSHA256: colonHex(s256[:]),
		fingerprintSHA1:   colonHex(s1[:]),
		notAfter:          leaf.NotAfter,
		subject:           leaf.Subject.String(),
	}
	switch leaf.PublicKeyAlgorithm {
	case x509.RSA:
		m.keyType = "rsa"
	case x509.ECDSA:
		m.keyType = "ec"
	case x509.DSA:
		m.keyType = "dsa"
	case x509.Ed25519:
		m.keyType = "ed25519"
	}
	return m
}

// colonHex is authentik's fingerprint format: "ab:01:...".
func colonHex(b []byte) string {
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = hex.EncodeToString([]byte{x})
	}
	return strings.Join(parts, ":")
}

// keepGeneratedCerts gives next the self-signed certificates old already
// generated for the same uuid, name and hosts: otherwise every reload would
// change their fingerprints and send every outpost re-downloading them.
func keepGeneratedCerts(next, old *Config) {
	if old == nil {
		return
	}
	for i := range next.Certificates {
		nc := &next.Certificates[i]
		if !nc.material.generated {
			continue
		}
		j, ok := old.certUUIDIdx[nc.UUID]
		if !ok {
			continue
		}
		oc := &old.Certificates[j]
		if oc.material.generated && oc.Name == nc.Name && oc.KeyType == nc.KeyType && slices.Equal(oc.material.hosts, nc.material.hosts) {
			// The kept key must sign when the new configuration signs with it.
			needSigner := nc.material.signer != nil
			nc.material = oc.material
			if needSigner && nc.material.signer == nil {
				nc.material.signer, _ = parseSigningKey(nc.material)
			}
		}
	}
}

// certificateByUUID is the certificate with that uuid, or nil.
func (c *Config) certificateByUUID(id string) *CertificateConfig {
	if i, ok := c.certUUIDIdx[id]; ok {
		return &c.Certificates[i]
	}
	return nil
}
