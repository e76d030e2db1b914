package outpostapi

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// maxPEMFileSize bounds certificate and key files: a mistaken path to a huge
// file must not be read into memory.
const maxPEMFileSize = 1 << 20

// loadStaticTLS reads a provider's certificate files and checks that they
// make a usable keypair. On error it names the field at fault (cert_file or
// key_file).
func loadStaticTLS(t StaticTLS, p Provider, baseDir string) (Certificate, string, error) {
	if t.CertFile == "" {
		return Certificate{}, "cert_file", errors.New("must be set: the PEM certificate chain, leaf first")
	}
	if t.KeyFile == "" {
		return Certificate{}, "key_file", errors.New("must be set: the PEM private key of the certificate")
	}
	if p.ExternalURL.Port() != "" {
		return Certificate{}, "cert_file", fmt.Errorf("external_host %q has a port: TLS server names never carry one, so this certificate could never be chosen", p.ExternalHost)
	}
	abs := func(f string) string {
		if !filepath.IsAbs(f) {
			f = filepath.Join(baseDir, f)
		}
		if a, err := filepath.Abs(f); err == nil {
			return a
		}
		return f
	}
	certFile, keyFile := abs(t.CertFile), abs(t.KeyFile)
	certPEM, err := ReadPEMFile(certFile)
	if err != nil {
		return Certificate{}, "cert_file", err
	}
	keyPEM, err := ReadPEMFile(keyFile)
	if err != nil {
		return Certificate{}, "key_file", err
	}
	leaf, err := firstCertificate(certPEM)
	if err != nil {
		return Certificate{}, "cert_file", fmt.Errorf("%s: %v", certFile, err)
	}
	// X509KeyPair also checks that the key belongs to the leaf.
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return Certificate{}, "key_file", fmt.Errorf("%s with %s: %v", keyFile, certFile, err)
	}
	sum := sha256.Sum256(leaf.Raw)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02x", b)
	}
	return Certificate{
		Fingerprint: strings.Join(parts, ":"),
		CertPEM:     string(certPEM), KeyPEM: string(keyPEM),
		CertFile: certFile, KeyFile: keyFile,
	}, "", nil
}

// firstCertificate parses the first CERTIFICATE block of a PEM chain.
func firstCertificate(b []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return nil, errors.New("no PEM CERTIFICATE block")
		}
		if block.Type == "CERTIFICATE" {
			return x509.ParseCertificate(block.Bytes)
		}
	}
}

// ReadPEMFile reads a certificate or key file of at most 1 MiB; devices
// and FIFOs are refused (reading /dev/zero would never end).
func ReadPEMFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Refuse devices and FIFOs: reading /dev/zero would never end.
	if st, err := f.Stat(); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxPEMFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxPEMFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxPEMFileSize)
	}
	return b, nil
}
