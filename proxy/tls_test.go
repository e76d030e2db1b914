package proxy_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/devcore"
	"github.com/outpost-dev/outpost/internal/proctest"
	"github.com/outpost-dev/outpost/outpostapi"
	"github.com/outpost-dev/outpost/proxy"
)

// testKeyPair is a self-signed certificate for hosts, PEM encoded.
type testKeyPair struct {
	certPEM, keyPEM string
	leaf            *x509.Certificate
}

func newTestKeyPair(t testing.TB, cn string, hosts ...string) testKeyPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     hosts,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(key)
	return testKeyPair{
		certPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		keyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})),
		leaf:    leaf,
	}
}

// fallbackOnce generates the RSA fallback once for the package's tests.
var fallbackOnce = sync.OnceValues(proxy.FallbackCertificate)

func fallbackCert(t testing.TB) *tls.Certificate {
	t.Helper()
	c, err := fallbackOnce()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tlsSnapshot builds a snapshot of proxy-mode providers; certs maps an
// external host to the keypair its provider references ("" for none).
func tlsSnapshot(t testing.TB, hosts []string, certs map[string]outpostapi.Certificate) *outpostapi.Snapshot {
	t.Helper()
	snap := &outpostapi.Snapshot{Outpost: outpostapi.OutpostInfo{Name: "tls-test"}, Certificates: map[string]outpostapi.Certificate{}}
	for i, h := range hosts {
		c := outpostapi.ProxyOutpostConfig{
			PK: i + 1, Name: fmt.Sprintf("p%d", i+1), Mode: outpostapi.ModeProxy,
			ExternalHost: "https://" + h, InternalHost: "http://127.0.0.1:1",
			ClientID: fmt.Sprintf("client-%d", i), ClientSecret: "secret", CookieSecret: "cookie-secret-0123456789",
			OIDCConfiguration: outpostapi.OpenIDConnectConfiguration{
				Issuer: "http://127.0.0.1:1/", AuthorizationEndpoint: "http://127.0.0.1:1/a", TokenEndpoint: "http://127.0.0.1:1/t",
				IDTokenSigningAlgValuesSupported: []string{"HS256"},
			},
		}
		if kp, ok := certs[h]; ok {
			id := kp.UUID
			c.Certificate = &id
			snap.Certificates[id] = kp
		}
		p, perr := outpostapi.ValidateProvider(c, "")
		if perr != nil {
			t.Fatalf("provider %s: %v", h, perr)
		}
		snap.Providers = append(snap.Providers, p)
	}
	return snap
}

func certOf(id string, kp testKeyPair) outpostapi.Certificate {
	return outpostapi.Certificate{UUID: id, Fingerprint: id, CertPEM: kp.certPEM, KeyPEM: kp.keyPEM}
}

// tlsOutpost is the data plane behind a real HTTPS listener on 127.0.0.1.
type tlsOutpost struct {
	srv  *proxy.Server
	addr string
	logs *proctest.Buffer
}

func startTLSOutpost(t *testing.T, trusted []netip.Prefix, handler http.Handler) *tlsOutpost {
	t.Helper()
	o := &tlsOutpost{logs: &proctest.Buffer{}}
	log := slog.New(slog.NewTextHandler(o.logs, nil))
	o.srv = proxy.New(proxy.Options{Log: log, Version: "0.1.0", TrustedProxies: trusted})
	if handler == nil {
		handler = o.srv
	}
	certs := proxy.NewCertificates(o.srv.Snapshot, fallbackCert(t), log)
	ln, err := proxy.ListenTLS("127.0.0.1:0", trusted, proxy.TLSConfig(certs.GetCertificate))
	if err != nil {
		t.Fatal(err)
	}
	o.addr = ln.Addr().String()
	hs := proxy.NewHTTPServer(handler)
	hs.ErrorLog = slogErrorLog(log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- proxy.Serve(ctx, hs, ln, time.Second) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return o
}

// update puts snap in force; every provider must build.
func (o *tlsOutpost) update(t *testing.T, snap *outpostapi.Snapshot) {
	t.Helper()
	if failed := o.srv.Update(snap); len(failed) > 0 {
		t.Fatalf("providers left out: %v", failed)
	}
}

func slogErrorLog(l *slog.Logger) *log.Logger { return slog.NewLogLogger(l.Handler(), slog.LevelWarn) }

// handshake connects with the given client config and returns the leaf the
// server presented.
func handshake(t *testing.T, addr string, cfg *tls.Config) (*x509.Certificate, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

func insecure(serverName string) *tls.Config {
	return &tls.Config{ServerName: serverName, InsecureSkipVerify: true} //nolint:gosec // the test reads what was served
}

// trusting verifies the chain against kp, as a browser that trusts it would.
func trusting(serverName string, kp testKeyPair) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(kp.leaf)
	return &tls.Config{ServerName: serverName, RootCAs: pool}
}

func TestTLSSNISelectsTheProvidersCertificate(t *testing.T) {
	a := newTestKeyPair(t, "a", "a.test")
	b := newTestKeyPair(t, "b", "b.test")
	d := newTestKeyPair(t, "d", "d.test")
	o := startTLSOutpost(t, nil, nil)
	// c.test has no certificate; d.test's external host carries a port, so
	// no server name can ever match it (spec §15).
	o.update(t, tlsSnapshot(t, []string{"a.test", "b.test", "c.test", "d.test:8443"}, map[string]outpostapi.Certificate{
		"a.test":      certOf("11111111-1111-4111-8111-111111111111", a),
		"b.test":      certOf("22222222-2222-4222-8222-222222222222", b),
		"d.test:8443": certOf("44444444-4444-4444-8444-444444444444", d),
	}))

	for _, tc := range []struct{ name, sni string }{{"exact", "a.test"}, {"case and trailing dot", "A.Test."}} {
		if _, err := handshake(t, o.addr, trusting(tc.sni, a)); err != nil {
			t.Errorf("%s: SNI %q does not get a.test's certificate: %v", tc.name, tc.sni, err)
		}
	}
	if _, err := handshake(t, o.addr, trusting("b.test", b)); err != nil {
		t.Errorf("SNI b.test does not get b.test's certificate: %v", err)
	}
	for _, sni := range []string{"unknown.test", "c.test", "d.test", "a.test.evil", ""} {
		leaf, err := handshake(t, o.addr, insecure(sni))
		if err != nil {
			t.Fatalf("SNI %q: %v", sni, err)
		}
		if leaf.Subject.CommonName != "authentik default certificate" {
			t.Errorf("SNI %q got %q, want the fallback certificate", sni, leaf.Subject.CommonName)
		}
	}

	// The fallback is what the reference serves.
	leaf, _ := handshake(t, o.addr, insecure("unknown.test"))
	if leaf.Subject.CommonName != "authentik default certificate" || strings.Join(leaf.Subject.Organization, ",") != "authentik" {
		t.Errorf("fallback subject: %v", leaf.Subject)
	}
	if strings.Join(leaf.DNSNames, ",") != "*" {
		t.Errorf("fallback SAN: %v, want [*]", leaf.DNSNames)
	}
	if pub, ok := leaf.PublicKey.(*rsa.PublicKey); !ok || pub.N.BitLen() != 2048 {
		t.Errorf("fallback key: %T, want RSA-2048", leaf.PublicKey)
	}
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life < 364*24*time.Hour || life > 367*24*time.Hour {
		t.Errorf("fallback validity: %s, want a year", life)
	}

	// Requests over TLS reach the data plane, which sees them as https.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: trusting("a.test", a), ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", o.addr)
		}}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", "https://a.test/private", nil)
	req.Header.Set("Accept", "text/html") // a browser loading a page
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, "https://a.test/outpost.goauthentik.io/start") {
		t.Errorf("GET https://a.test/private: %d %q %s, want a sign-in redirect on https", resp.StatusCode, loc, body)
	}
	if resp.ProtoMajor != 2 {
		t.Errorf("protocol %s, want HTTP/2 offered over TLS", resp.Proto)
	}
}

func TestTLSRefusesOldVersionsAndWeakParameters(t *testing.T) {
	o := startTLSOutpost(t, nil, nil)
	o.update(t, tlsSnapshot(t, []string{"a.test"}, nil))
	ok := func(name string, cfg *tls.Config) {
		t.Helper()
		if _, err := handshake(t, o.addr, cfg); err != nil {
			t.Errorf("%s: refused: %v", name, err)
		}
	}
	refused := func(name string, cfg *tls.Config) {
		t.Helper()
		if _, err := handshake(t, o.addr, cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	with := func(f func(*tls.Config)) *tls.Config {
		c := insecure("a.test")
		f(c)
		return c
	}
	ok("TLS 1.3", with(func(c *tls.Config) { c.MinVersion = tls.VersionTLS13 }))
	ok("TLS 1.2", with(func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }))
	refused("TLS 1.1", with(func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11 }))
	refused("TLS 1.0", with(func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS10 }))
	refused("TLS 1.2 with only ChaCha20-Poly1305", with(func(c *tls.Config) {
		c.MaxVersion = tls.VersionTLS12
		c.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}
	}))
	refused("TLS 1.2 with only 3DES", with(func(c *tls.Config) {
		c.MaxVersion = tls.VersionTLS12
		c.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA}
	}))
	ok("TLS 1.2 with AES-GCM", with(func(c *tls.Config) {
		c.MaxVersion = tls.VersionTLS12
		c.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
	}))
	refused("only the P-521 curve", with(func(c *tls.Config) { c.CurvePreferences = []tls.CurveID{tls.CurveP521} }))
	for _, curve := range []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384} {
		ok("curve "+curve.String(), with(func(c *tls.Config) { c.CurvePreferences = []tls.CurveID{curve} }))
	}
}

// A refresh that changes a keypair is served from the next handshake on;
// an unchanged keypair is not parsed again; a keypair that cannot be used is
// logged and its host gets the fallback, and nothing crashes.
func TestTLSCertificateFollowsTheSnapshot(t *testing.T) {
	one := newTestKeyPair(t, "one", "a.test")
	two := newTestKeyPair(t, "two", "a.test")
	o := startTLSOutpost(t, nil, nil)
	const id = "11111111-1111-4111-8111-111111111111"
	certs := proxy.NewCertificates(o.srv.Snapshot, fallbackCert(t), nil)
	hello := &tls.ClientHelloInfo{ServerName: "a.test"}
	get := func() *tls.Certificate {
		c, err := certs.GetCertificate(hello)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := get(); c != fallbackCert(t) {
		t.Error("before any configuration: want the fallback")
	}

	o.update(t, tlsSnapshot(t, []string{"a.test"}, map[string]outpostapi.Certificate{"a.test": certOf(id, one)}))
	first := get()
	if _, err := handshake(t, o.addr, trusting("a.test", one)); err != nil {
		t.Fatalf("first keypair not served: %v", err)
	}
	if again := get(); again != first {
		t.Error("the same snapshot parsed its keypair again")
	}
	o.update(t, tlsSnapshot(t, []string{"a.test"}, map[string]outpostapi.Certificate{"a.test": certOf(id, one)}))
	if again := get(); again != first {
		t.Error("an unchanged keypair was parsed again after a refresh")
	}

	o.update(t, tlsSnapshot(t, []string{"a.test"}, map[string]outpostapi.Certificate{"a.test": certOf(id, two)}))
	if _, err := handshake(t, o.addr, trusting("a.test", two)); err != nil {
		t.Fatalf("changed keypair not served after the refresh: %v", err)
	}

	for name, bad := range map[string]outpostapi.Certificate{
		"garbage":            {UUID: id, CertPEM: "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n", KeyPEM: two.keyPEM},
		"no key":             {UUID: id, CertPEM: two.certPEM},
		"someone else's key": {UUID: id, CertPEM: two.certPEM, KeyPEM: one.keyPEM},
	} {
		o.update(t, tlsSnapshot(t, []string{"a.test"}, map[string]outpostapi.Certificate{"a.test": bad}))
		leaf, err := handshake(t, o.addr, insecure("a.test"))
		if err != nil {
			t.Fatalf("%s: handshake failed: %v", name, err)
		}
		if leaf.Subject.CommonName != "authentik default certificate" {
			t.Errorf("%s: served %q, want the fallback", name, leaf.Subject.CommonName)
		}
	}
	if n := strings.Count(o.logs.String(), "cannot be served"); n != 3 {
		t.Errorf("%d log lines about unusable certificates, want 3:\n%s", n, o.logs)
	}
}

// A PROXY protocol header is read before TLS from trusted peers only.
func TestTLSProxyProtocolOnlyFromTrustedPeers(t *testing.T) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.RemoteAddr) })
	send := func(addr string) (string, error) {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return "", err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(conn, "PROXY TCP4 203.0.113.7 127.0.0.1 40000 9443\r\n"); err != nil {
			return "", err
		}
		tc := tls.Client(conn, insecure("a.test"))
		if _, err := io.WriteString(tc, "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"); err != nil {
			return "", err
		}
		resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	trusted := startTLSOutpost(t, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, echo)
	if got, err := send(trusted.addr); err != nil || !strings.HasPrefix(got, "203.0.113.7:") {
		t.Errorf("trusted peer: %q %v, want the address from the PROXY header", got, err)
	}
	untrusted := startTLSOutpost(t, nil, echo)
	if got, err := send(untrusted.addr); err == nil {
		t.Errorf("untrusted peer: the PROXY header was accepted (%q)", got)
	}
}

// The HTTPS listener keeps idle TCP connections alive with a 3 min period.
func TestTLSListenerKeepAlive(t *testing.T) {
	ln, err := proxy.ListenTLS("127.0.0.1:0", nil, proxy.TLSConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return fallbackCert(t), nil }))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			time.Sleep(time.Second)
			c.Close()
		}
	}()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tcp, ok := conn.(*tls.Conn).NetConn().(interface{ TCPConn() (*net.TCPConn, bool) })
	var raw syscall.Conn
	if ok {
		raw, _ = tcp.TCPConn()
	} else if sc, ok := conn.(*tls.Conn).NetConn().(syscall.Conn); ok {
		raw = sc
	}
	if raw == nil {
		t.Fatalf("cannot reach the TCP connection under %T", conn.(*tls.Conn).NetConn())
	}
	rc, err := raw.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var on, idle int
	_ = rc.Control(func(fd uintptr) {
		on, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
		idle, _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE)
	})
	if on == 0 || idle != 180 {
		t.Errorf("keep-alive on=%d idle=%ds, want on and 180 s", on, idle)
	}
}

// A keypair changed at the core (the devcore here) is served after the
// refresh its TRIGGER_UPDATE causes, with no restart.
func TestTLSCertificateChangedAtTheCore(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, kp testKeyPair) (string, string) {
		c, k := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
		if err := os.WriteFile(c, []byte(kp.certPEM), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(k, []byte(kp.keyPEM), 0o600); err != nil {
			t.Fatal(err)
		}
		return c, k
	}
	before, after := newTestKeyPair(t, "before", "app.test"), newTestKeyPair(t, "after", "app.test")
	c1, k1 := write("before", before)
	c2, k2 := write("after", after)
	const pk, token = "6b7c2a10-3f4e-4d5a-8b9c-0d1e2f3a4b5c", "tls-outpost-token-0123456789"
	coreYAML := func(certFile, keyFile string) *devcore.Config {
		cfg, err := devcore.ParseConfig([]byte(`
outposts:
  - pk: ` + pk + `
    name: tls-outpost
    token: ` + token + `
    providers: [app]
providers:
  - name: app
    external_host: https://app.test
    internal_host: http://127.0.0.1:1
    client_id: app
    client_secret: app-secret-0123456789abcdef0123456789ab
    cookie_secret: app-cookie-secret-0123456789
    certificate: app-tls
certificates:
  - name: app-tls
    cert_file: ` + certFile + `
    key_file: ` + keyFile + `
`))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	core, err := devcore.New(coreYAML(c1, k1), devcore.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	coreLn := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	coreDone := make(chan error, 1)
	go func() { coreDone <- core.Serve(ctx, coreLn) }()

	o := startTLSOutpost(t, nil, nil)
	coreURL, err := url.Parse("http://" + coreLn.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	src := outpostapi.NewCoreSource(outpostapi.CoreEndpoint{Host: coreURL, Token: token}, outpostapi.CoreOptions{
		Logger: slog.New(slog.DiscardHandler), Version: "2026.2.2", TriggerDelayMax: 10 * time.Millisecond,
	})
	snaps := make(chan *outpostapi.Snapshot, 10)
	srcDone := make(chan error, 1)
	go func() {
		srcDone <- src.Run(ctx, outpostapi.Handlers{OnSnapshot: func(s *outpostapi.Snapshot) {
			o.srv.Update(s)
			snaps <- s
		}})
	}()
	t.Cleanup(func() {
		cancel()
		<-srcDone
		<-coreDone
	})
	select {
	case <-snaps:
	case <-time.After(30 * time.Second):
		t.Fatal("no configuration from the core")
	}
	if _, err := handshake(t, o.addr, trusting("app.test", before)); err != nil {
		t.Fatalf("the core's first keypair is not served: %v", err)
	}

	if err := core.SetConfig(coreYAML(c2, k2)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := handshake(t, o.addr, trusting("app.test", after))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the changed keypair is still not served 20 s after the change: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := handshake(t, o.addr, trusting("app.test", before)); err == nil {
		t.Error("the old keypair is still served")
	}
}
