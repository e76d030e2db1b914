package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeKeyPair writes a self-signed certificate for host to dir/name.crt and
// dir/name.key and returns it.
func writeKeyPair(t *testing.T, dir, name, host string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(key)
	// Write to temporary names and rename, as cert-manager and Kubernetes
	// do, so no reader sees half a pair.
	for ext, b := range map[string][]byte{
		".crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		".key": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
	} {
		tmp := filepath.Join(dir, "."+name+ext+".tmp")
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name+ext)); err != nil {
			t.Fatal(err)
		}
	}
	leaf, _ := x509.ParseCertificate(der)
	return leaf
}

// served is the leaf the HTTPS listener at addr presents for sni, or the
// handshake error.
func served(addr, sni string, maxVersion uint16) (*x509.Certificate, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{ServerName: sni, InsecureSkipVerify: true, MaxVersion: maxVersion}) //nolint:gosec // the test reads what was served
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// waitServed waits until sni is served the certificate named want.
func waitServed(t *testing.T, addr, sni, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		leaf, err := served(addr, sni, 0)
		if err == nil && leaf.Subject.CommonName == want {
			return
		}
		if time.Now().After(deadline) {
			got := ""
			if leaf != nil {
				got = leaf.Subject.CommonName
			}
			t.Fatalf("SNI %s: still served %q (%v) after %s, want %q", sni, got, err, within, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The binary serves HTTPS on AUTHENTIK_LISTEN__HTTPS: a standalone
// provider's certificate files by SNI, the fallback for other names, no
// TLS 1.1, and a rotated certificate without a restart.
func TestHTTPSStandalone(t *testing.T) {
	dir := t.TempDir()
	writeKeyPair(t, dir, "prom-1", "prom.test")
	cfg := filepath.Join(dir, "providers.yaml")
	yaml := strings.Replace(standaloneYAML, "cookie_secret: 0123456789abcdef\n",
		"cookie_secret: 0123456789abcdef\n    tls:\n      cert_file: prom.crt\n      key_file: prom.key\n", 1)
	yaml = strings.Replace(yaml, "http://prom.test", "https://prom.test", 1)
	// The certificate files are named by the YAML; make them links to the
	// first pair so a rotation can swap them.
	for _, ext := range []string{".crt", ".key"} {
		if err := os.Symlink("prom-1"+ext, filepath.Join(dir, "prom"+ext)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr, httpsAddr, metricsAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	p := start(t, []string{"AUTHENTIK_LISTEN__HTTP=" + httpAddr, "AUTHENTIK_LISTEN__HTTPS=" + httpsAddr,
		"AUTHENTIK_LISTEN__METRICS=" + metricsAddr}, "--config", cfg)
	p.waitFor(t, "configuration in force", 30*time.Second)

	waitServed(t, httpsAddr, "prom.test", "prom-1", 10*time.Second)
	for _, sni := range []string{"other.test", ""} {
		t.Run(sni, func(t *testing.T) {
			leaf, err := served(httpsAddr, sni, 0)
			if err != nil || leaf.Subject.CommonName != "authentik default certificate" {
				t.Errorf("SNI %q: %v %v, want the fallback certificate", sni, leaf, err)
			}
		})
	}
	if _, err := served(httpsAddr, "prom.test", tls.VersionTLS11); err == nil {
		t.Error("TLS 1.1 was accepted")
	}
	// The refused handshake is logged like everything else (JSON, with
	// the listener), not as a bare line on stderr.
	if line := p.waitFor(t, "TLS handshake error", 10*time.Second); !strings.HasPrefix(line, "{") || !strings.Contains(line, `"listener":"https"`) {
		t.Errorf("handshake error not in the structured log: %s", line)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // only the status matters here
	}}
	resp, err := client.Get("https://" + httpsAddr + "/outpost.goauthentik.io/ping")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("ping over HTTPS: %d", resp.StatusCode)
	}

	// Rotation: the links now point at a new pair, as a Secret update
	// swaps them; the YAML file is untouched.
	writeKeyPair(t, dir, "prom-2", "prom.test")
	for _, ext := range []string{".crt", ".key"} {
		tmp := filepath.Join(dir, "prom"+ext+".new")
		if err := os.Symlink("prom-2"+ext, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "prom"+ext)); err != nil {
			t.Fatal(err)
		}
	}
	waitServed(t, httpsAddr, "prom.test", "prom-2", 10*time.Second)
}

// A certificate changed at the core (the devcore binary, by an edit of its
// file) is served after the refresh that follows, with no restart.
func TestHTTPSCertificateChangedAtTheCore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeKeyPair(t, dir, "a-1", "a.test")
	writeKeyPair(t, dir, "a-2", "a.test")
	withCert := strings.Replace(devcoreYAML, "    cookie_secret: a-cookie-0123456789\n",
		"    cookie_secret: a-cookie-0123456789\n    certificate: a-tls\n", 1) + `certificates:
  - name: a-tls
    cert_file: a-1.crt
    key_file: a-1.key
`
	cfg := filepath.Join(dir, "core.yaml")
	if err := os.WriteFile(cfg, []byte(withCert), 0o600); err != nil {
		t.Fatal(err)
	}
	coreAddr, httpAddr, httpsAddr, metricsAddr := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	core := start(t, nil, "devcore", "--config", cfg, "--listen", coreAddr)
	core.waitFor(t, "devcore listening", 30*time.Second)
	out := start(t, []string{
		"AUTHENTIK_HOST=http://" + coreAddr + "/", "AUTHENTIK_TOKEN=file-outpost-token",
		"AUTHENTIK_LISTEN__HTTP=" + httpAddr, "AUTHENTIK_LISTEN__HTTPS=" + httpsAddr, "AUTHENTIK_LISTEN__METRICS=" + metricsAddr,
	})
	out.waitFor(t, "configuration in force", 30*time.Second)
	waitServed(t, httpsAddr, "a.test", "a-1", 10*time.Second)
	if leaf, err := served(httpsAddr, "c.test", 0); err != nil || leaf.Subject.CommonName != "authentik default certificate" {
		t.Errorf("c.test (no certificate): %v %v, want the fallback", leaf, err)
	}

	edited := strings.ReplaceAll(withCert, "a-1.", "a-2.")
	if err := os.WriteFile(cfg, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	// The devcore sends TRIGGER_UPDATE; the outpost refreshes within its
	// HA offset (0-9 s), sees the new fingerprint and downloads the pair.
	waitServed(t, httpsAddr, "a.test", "a-2", 20*time.Second)
}
