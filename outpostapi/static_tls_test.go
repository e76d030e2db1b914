package outpostapi

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pemKeyPair makes a self-signed certificate for host and returns its PEM
// certificate, PEM key and authentik-style SHA-256 fingerprint.
func pemKeyPair(t *testing.T, host string) (certPEM, keyPEM, fingerprint string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(key)
	sum := sha256.Sum256(der)
	hex := make([]string, len(sum))
	for i, b := range sum {
		hex[i] = fmt.Sprintf("%02x", b)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})),
		strings.Join(hex, ":")
}

const tlsStatic = `outpost:
  name: edge
providers:
  - name: prometheus
    external_host: https://prom.example.com
    internal_host: http://127.0.0.1:9090
    issuer: https://id.example.com/
    client_id: prom
    client_secret: s3cret
    cookie_secret: 0123456789abcdef0123456789abcdef
    tls:
      cert_file: tls/prom.crt
      key_file: tls/prom.key
  - name: grafana
    external_host: https://grafana.example.com
    internal_host: http://127.0.0.1:3000
    issuer: https://id.example.com/
    client_id: grafana
    client_secret: s3cret
    cookie_secret: 0123456789abcdef0123456789abcdef
`

func writeTLSFiles(t *testing.T, dir, name, host string) (certPEM, keyPEM, fingerprint string) {
	t.Helper()
	certPEM, keyPEM, fingerprint = pemKeyPair(t, host)
	if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "tls", name+".crt"), certPEM)
	writeFile(t, filepath.Join(dir, "tls", name+".key"), keyPEM)
	return
}

func TestParseStaticTLSFiles(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM, fp := writeTLSFiles(t, dir, "prom", "prom.example.com")
	snap, err := ParseStatic([]byte(tlsStatic), dir)
	if err != nil {
		t.Fatal(err)
	}
	prom, grafana := snap.Providers[0], snap.Providers[1]
	if prom.Certificate == nil {
		t.Fatal("prometheus references no certificate")
	}
	if grafana.Certificate != nil {
		t.Errorf("grafana references certificate %q, want none", *grafana.Certificate)
	}
	c, ok := snap.Certificates[*prom.Certificate]
	if !ok {
		t.Fatalf("certificate %q is not in the snapshot", *prom.Certificate)
	}
	if c.CertPEM != certPEM || c.KeyPEM != keyPEM || c.Fingerprint != fp || c.UUID != *prom.Certificate {
		t.Errorf("certificate = %+v, want the files' PEMs and fingerprint %s", c, fp)
	}
	// Relative paths are resolved against the YAML file's directory, and
	// kept absolute so they can be watched.
	if want := filepath.Join(dir, "tls", "prom.crt"); c.CertFile != want || c.KeyFile != filepath.Join(dir, "tls", "prom.key") {
		t.Errorf("files = %s, %s; want %s and the key beside it", c.CertFile, c.KeyFile, want)
	}
}

func TestParseStaticTLSErrorsNameLineAndField(t *testing.T) {
	dir := t.TempDir()
	writeTLSFiles(t, dir, "prom", "prom.example.com")
	_, otherKey, _ := pemKeyPair(t, "other.example.com")
	writeFile(t, filepath.Join(dir, "tls", "other.key"), otherKey)
	writeFile(t, filepath.Join(dir, "tls", "garbage.crt"), "not a certificate\n")
	cases := []struct {
		name, from, to, want string
	}{
		{"missing cert file", "cert_file: tls/prom.crt", "cert_file: tls/missing.crt",
			`line 12: provider "prometheus": tls.cert_file: open ` + filepath.Join(dir, "tls", "missing.crt")},
		{"missing key file", "key_file: tls/prom.key", "key_file: tls/missing.key",
			`line 13: provider "prometheus": tls.key_file: open ` + filepath.Join(dir, "tls", "missing.key")},
		{"key of another certificate", "key_file: tls/prom.key", "key_file: tls/other.key",
			`line 13: provider "prometheus": tls.key_file: ` + filepath.Join(dir, "tls", "other.key")},
		{"not PEM", "cert_file: tls/prom.crt", "cert_file: tls/garbage.crt",
			`line 12: provider "prometheus": tls.cert_file: ` + filepath.Join(dir, "tls", "garbage.crt") + `: no PEM CERTIFICATE block`},
		{"no key_file", "      key_file: tls/prom.key\n", "",
			`line 12: provider "prometheus": tls.key_file: must be set`},
		{"unknown field", "key_file: tls/prom.key", "keyfile: tls/prom.key",
			`line 13: provider "prometheus": tls.keyfile: unknown field, did you mean key_file?`},
		{"port in the external host", "https://prom.example.com", "https://prom.example.com:8443",
			`provider "prometheus": tls.cert_file: external_host "https://prom.example.com:8443" has a port`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			y := strings.Replace(tlsStatic, tc.from, tc.to, 1)
			if y == tlsStatic {
				t.Fatalf("%q not in the YAML", tc.from)
			}
			_, err := ParseStatic([]byte(y), dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// Rotating the certificate files in place (cert-manager, a Kubernetes
// Secret) reloads the configuration with no edit of the YAML file.
func TestStaticSourceReloadsRotatedCertificates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "providers.yaml")
	_, _, first := writeTLSFiles(t, dir, "prom", "prom.example.com")
	writeFile(t, path, tlsStatic)

	_, snaps, errs := runStaticSource(t, path)
	fingerprint := func(s *Snapshot) string { return s.Certificates[*s.Providers[0].Certificate].Fingerprint }
	if got := fingerprint(recv(t, snaps)); got != first {
		t.Fatalf("first snapshot: fingerprint %s, want %s", got, first)
	}

	// Writing the new pair takes two writes; the reload that may see a
	// half-rotated pair is refused, and the last one sees both files.
	_, _, second := writeTLSFiles(t, dir, "prom", "prom.example.com")
	deadline := time.After(5 * time.Second)
	for {
		select {
		case s := <-snaps:
			if fingerprint(s) == second {
				return
			}
		case err := <-errs:
			t.Log(err)
		case <-deadline:
			t.Fatal("the rotated certificate was not loaded within 5 s")
		}
	}
}
