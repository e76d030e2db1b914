package devcore

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestConfigDefaults(t *testing.T) {
	y := strings.Replace(baseYAML, "  - name: grafana\n", "  - name: grafana\n    pk: 7\n", 1)
	y = strings.Replace(y, "pk: "+pkB, "pk: "+strings.ToUpper(pkB), 1)
	c := mustParse(t, y)

	// pk: the position from 1, unless set.
	for i, want := range []int{1, 7, 3} {
		if c.Providers[i].PK != want {
			t.Errorf("providers[%d].pk = %d, want %d", i, c.Providers[i].PK, want)
		}
	}
	p := c.Providers[0]
	if p.Mode != "proxy" || !*p.InternalHostSSLValidation || !*p.InterceptHeaderAuth || *p.AccessTokenValidity != 86400 ||
		p.ApplicationSlug != "prometheus" || p.ApplicationName != "prometheus" ||
		!reflect.DeepEqual(p.ScopesToRequest, []string{"openid", "email", "profile", "entitlements", "ak_proxy"}) {
		t.Errorf("provider defaults: %+v", p)
	}
	// Defaults are copies: one provider's scopes are not another's.
	c.Providers[0].ScopesToRequest[0] = "changed"
	if c.Providers[2].ScopesToRequest[0] != "openid" || defaultProviderScopes[0] != "openid" {
		t.Error("default scopes share storage")
	}
	if c.Providers[1].ApplicationSlug != "grafana-app" || c.Providers[1].ApplicationName != "Grafana" {
		t.Errorf("explicit application: %+v", c.Providers[1])
	}
	if c.Outposts[0].RefreshIntervalS != 300 || c.Outposts[1].RefreshIntervalS != 60 {
		t.Errorf("refresh intervals: %d %d", c.Outposts[0].RefreshIntervalS, c.Outposts[1].RefreshIntervalS)
	}
	// UUIDs are kept in the lower-case form the websocket path uses.
	if c.Outposts[1].PK != pkB {
		t.Errorf("outpost pk %q not normalised", c.Outposts[1].PK)
	}
	// A certificate's default uuid derives from its name: stable across loads.
	want := uuid.NewSHA1(certNamespace, []byte("grafana-tls")).String()
	if c.Certificates[0].UUID != want || mustParse(t, baseYAML).Certificates[0].UUID != want {
		t.Errorf("certificate uuid %s, want %s", c.Certificates[0].UUID, want)
	}
	m := c.Certificates[0].material
	if !m.generated || m.keyPEM == "" || !reflect.DeepEqual(m.hosts, []string{"grafana.example.com"}) {
		t.Errorf("generated certificate: %+v", m.hosts)
	}
	if len(m.fingerprintSHA256) != 32*3-1 || strings.ToLower(m.fingerprintSHA256) != m.fingerprintSHA256 || m.fingerprintSHA256[2] != ':' {
		t.Errorf("fingerprint format: %q", m.fingerprintSHA256)
	}
}

// lineOf is the 1-based line on which the first occurrence of marker ends
// (a multi-line marker can single out one of several equal lines).
func lineOf(t *testing.T, y, marker string) int {
	t.Helper()
	i := strings.Index(y, marker)
	if i < 0 {
		t.Fatalf("marker %q not in YAML", marker)
	}
	return strings.Count(y[:i+len(marker)], "\n") + 1
}

func TestConfigValidationNamesTheField(t *testing.T) {
	rep := func(old, new string) func(string) string {
		return func(y string) string {
			if !strings.Contains(y, old) {
				panic("test YAML lacks " + old)
			}
			return strings.Replace(y, old, new, 1)
		}
	}
	for _, tc := range []struct {
		name   string
		edit   func(string) string
		want   []string // substrings of the error
		marker string   // the error's line is this text's line
	}{
		{"bad external_host", rep("https://grafana.example.com", "ftp://grafana.example.com"),
			[]string{`providers[1] ("grafana"): external_host:`, "http"}, "ftp://grafana"},
		{"external_host without host", rep("https://grafana.example.com", "https://"),
			[]string{`providers[1] ("grafana"): external_host:`, "no host"}, "forward_single\n    external_host: https://"},
		{"missing external_host", rep("    external_host: https://grafana.example.com\n", ""),
			[]string{`providers[1] ("grafana"): external_host: must be set`}, "- name: grafana"},
		{"missing internal_host in proxy mode", rep("    internal_host: http://127.0.0.1:9090\n", ""),
			[]string{`providers[0] ("prometheus"): internal_host: must be set in proxy mode`}, "- name: prometheus"},
		{"bad internal_host", rep("http://127.0.0.1:9090", "127.0.0.1:9090"),
			[]string{`providers[0] ("prometheus"): internal_host:`}, "internal_host: 127.0.0.1:9090"},
		{"missing client_secret", rep("    client_secret: prom-secret-0123456789abcdef0123456789\n", ""),
			[]string{`providers[0] ("prometheus"): client_secret: must be set`}, "- name: prometheus"},
		{"short client_secret", rep("client_secret: prom-secret-0123456789abcdef0123456789", "client_secret: prom-secret"),
			[]string{`providers[0] ("prometheus"): client_secret: must be at least 32 characters`}, "client_secret: prom-secret"},
		{"short cookie_secret", rep("cookie_secret: prom-cookie-secret-0123456789", "cookie_secret: short"),
			[]string{`providers[0] ("prometheus"): cookie_secret: must be at least 16`}, "cookie_secret: short"},
		{"empty cookie_secret", rep("cookie_secret: prom-cookie-secret-0123456789", `cookie_secret: ""`),
			[]string{`providers[0] ("prometheus"): cookie_secret: must be set`}, `cookie_secret: ""`},
		{"missing client_id", rep("    client_id: secret-client\n", ""),
			[]string{`providers[2] ("secret-app"): client_id: must be set`}, "- name: secret-app"},
		{"duplicate client_id", rep("client_id: grafana-client", "client_id: prom-client"),
			[]string{`providers[1] ("grafana"): client_id:`, `"prom-client" is also the client_id of providers[0]`}, "grafana.example.com\n    client_id: prom-client"},
		{"duplicate provider name", rep("- name: secret-app", "- name: grafana"),
			[]string{`providers[2] ("grafana"): name:`, "providers[1]"}, "Grafana\n  - name: grafana"},
		{"missing provider name", rep("- name: secret-app", "- client_secret_x: 1\n    name: \"\""),
			[]string{"field client_secret_x not found"}, "client_secret_x"},
		{"bad mode", rep("mode: forward_single", "mode: forward"),
			[]string{`providers[1] ("grafana"): mode:`, "forward_domain"}, "mode: forward"},
		{"duplicate pk", rep("  - name: grafana\n", "  - name: grafana\n    pk: 1\n"),
			[]string{`providers[1] ("grafana"): pk: 1 is also the pk of providers[0]`}, "pk: 1"},
		{"negative validity", rep("    certificate: b-tls\n", "    certificate: b-tls\n    access_token_validity: -1\n"),
			[]string{`providers[2] ("secret-app"): access_token_validity:`}, "access_token_validity: -1"},
		{"unknown certificate", rep("certificate: grafana-tls", "certificate: nope"),
			[]string{`providers[1] ("grafana"): certificate: unknown certificate "nope"`}, "certificate: nope"},
		{"bad slug", rep("application_slug: grafana-app", "application_slug: grafana app"),
			[]string{`providers[1] ("grafana"): application_slug:`}, "application_slug: grafana app"},
		{"duplicate slug", rep("application_slug: grafana-app", "application_slug: prometheus"),
			[]string{`providers[1] ("grafana"): application_slug: "prometheus" is also the application of providers[0]`}, "application_slug: prometheus"},
		{"unknown allowed group", rep("    certificate: b-tls\n", "    certificate: b-tls\n    allowed_groups: [ops, admins]\n"),
			[]string{`providers[2] ("secret-app"): allowed_groups: unknown group "admins"`}, "allowed_groups"},
		{"unknown provider in outpost", rep("providers: [prometheus, grafana]", "providers: [prometheus, x]"),
			[]string{`outposts[0].providers: unknown provider "x"`}, "providers: [prometheus, x]"},
		{"provider listed twice", rep("providers: [prometheus, grafana]", "providers: [prometheus, prometheus]"),
			[]string{`outposts[0].providers: provider "prometheus" is listed twice`}, "providers: [prometheus, prometheus]"},
		{"duplicate outpost pk", rep("pk: "+pkB, "pk: "+pkA),
			[]string{"outposts[1].pk:", "outposts[0]"}, "[prometheus, grafana]\n  - pk: " + pkA},
		{"outpost pk not a uuid", rep("pk: "+pkA, "pk: not-a-uuid"),
			[]string{"outposts[0].pk:", "dashed UUID"}, "pk: not-a-uuid"},
		{"outpost pk without dashes", rep("pk: "+pkA, "pk: "+strings.ReplaceAll(pkA, "-", "")),
			[]string{"outposts[0].pk:", "dashed UUID"}, "pk: aaaaaaaa1111"},
		{"missing outpost pk", rep("  - pk: "+pkA+"\n    name: outpost-a", "  - name: outpost-a"),
			[]string{"outposts[0].pk: must be set"}, "- name: outpost-a"},
		{"duplicate token", rep("token: "+tokenB, "token: "+tokenA),
			[]string{"outposts[1].token:", "outposts[0]"}, "name: outpost-b\n    token: " + tokenA},
		{"empty token", rep("token: "+tokenA, `token: ""`),
			[]string{"outposts[0].token: must be set"}, `token: ""`},
		{"duplicate outpost name", rep("name: outpost-b", "name: outpost-a"),
			[]string{"outposts[1].name:"}, "pk: " + pkB + "\n    name: outpost-a"},
		{"negative refresh interval", rep("refresh_interval_s: 60", "refresh_interval_s: -1"),
			[]string{"outposts[1].refresh_interval_s:"}, "refresh_interval_s: -1"},
		{"config not JSON", rep("      log_level: debug\n", "      log_level: debug\n      ratio: .nan\n"),
			[]string{"outposts[1].config: cannot be sent as JSON"}, "log_level: debug"},
		{"config with non-string keys", rep("      log_level: debug\n", "      log_level: debug\n      nested: {1: a}\n"),
			[]string{"outposts[1].config: cannot be sent as JSON"}, "log_level: debug"},
		{"no outposts and no providers", func(string) string { return "outposts: []\n" },
			[]string{"outposts: at least one outpost or provider is required"}, "outposts: []"},
		{"unknown signing key", rep("certificate: grafana-tls", "certificate: grafana-tls\n    signing_key: nope"),
			[]string{`providers[1] ("grafana"): signing_key: unknown certificate "nope"`}, "signing_key: nope"},
		{"bad redirect_uris entry", rep("certificate: grafana-tls", "certificate: grafana-tls\n    signing_key: b-tls\n    redirect_uris: [http://x/cb, ftp://y]"),
			[]string{`providers[1] ("grafana"): redirect_uris[1]:`, "http"}, "ftp://y"},
		{"plain password", rep(`password_hash: "`+testHash+`"`, "password_hash: hunter2"),
			[]string{"users[0].password_hash:", "plain passwords are refused"}, "password_hash: hunter2"},
		{"plain app password", rep("    groups: [ops]\n", "    groups: [ops]\n    app_passwords: [hunter2]\n"),
			[]string{"users[0].app_passwords[0]:", "plain passwords are refused"}, "app_passwords"},
		{"missing password", rep(`    password_hash: "`+testHash+`"`+"\n", ""),
			[]string{"users[0].password_hash: must be set"}, "- username: alice"},
		{"unknown group", rep("groups: [ops]", "groups: [admins]"),
			[]string{`users[0].groups: unknown group "admins"`}, "groups: [admins]"},
		{"duplicate user", rep("    groups: [ops]\n", "    groups: [ops]\n  - username: alice\n    password_hash: \""+testHash+"\"\n"),
			[]string{`users[1].username: "alice" is also the username of users[0]`}, "groups: [ops]\n  - username: alice"},
		{"duplicate group", rep("  - name: ops\n", "  - name: ops\n  - name: ops\n"),
			[]string{`groups[1].name: "ops" is also the name of groups[0]`}, "  - name: ops\n  - name: ops"},
		{"certificate uuid", rep("  - name: grafana-tls\n", "  - name: grafana-tls\n    uuid: nope\n"),
			[]string{"certificates[0].uuid:", "dashed UUID"}, "uuid: nope"},
		{"key_file without cert_file", rep("  - name: b-tls\n", "  - name: b-tls\n    key_file: k.pem\n"),
			[]string{"certificates[1].key_file: needs cert_file too"}, "key_file: k.pem"},
		{"missing cert_file", rep("  - name: grafana-tls\n", "  - name: grafana-tls\n    cert_file: /nonexistent/cert.pem\n"),
			[]string{"certificates[0].cert_file:", "/nonexistent/cert.pem"}, "cert_file: /nonexistent"},
		{"cert_file is a device", rep("  - name: grafana-tls\n", "  - name: grafana-tls\n    cert_file: /dev/zero\n"),
			[]string{"certificates[0].cert_file:", "not a regular file"}, "cert_file: /dev/zero"},
		{"empty host", rep("hosts: [secret.example.com, 10.0.0.1]", `hosts: [secret.example.com, ""]`),
			[]string{"certificates[1].hosts[1]: must not be empty"}, "hosts: [secret"},
		{"unknown field", rep("    application_name: Grafana\n", "    application_name: Grafana\n    colour: red\n"),
			[]string{"field colour not found"}, "colour: red"},
		{"two documents", func(y string) string { return y + "---\nlisten: x\n" },
			[]string{"only one YAML document"}, "---"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y := tc.edit(baseYAML)
			_, err := ParseConfig([]byte(y))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if want := fmt.Sprintf("line %d:", lineOf(t, y, tc.marker)); !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %s", err, want)
			}
		})
	}
	if _, err := ParseConfig(nil); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty file: %v", err)
	}
}

func TestNewChecksConfigBuiltInCode(t *testing.T) {
	_, err := New(&Config{Outposts: []OutpostConfig{{PK: pkA, Name: "a"}}}, Options{})
	if err == nil || !strings.Contains(err.Error(), "outposts[0].token: must be set") {
		t.Errorf("New with a bad config: %v", err)
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New(nil) accepted")
	}
	s, err := New(&Config{Outposts: []OutpostConfig{{PK: strings.ToUpper(pkA), Name: "a", Token: "t"}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.config().Outposts[0].PK != pkA || s.config().Outposts[0].RefreshIntervalS != 300 {
		t.Errorf("defaults not applied: %+v", s.config().Outposts[0])
	}
	if err := s.SetConfig(&Config{}); err == nil || s.config().Outposts[0].PK != pkA {
		t.Errorf("SetConfig with a bad config: %v", err)
	}
}

// writeCertFiles writes an RSA CA and a leaf it signed, and returns the
// chain file, the leaf's key file and a key file that does not match.
func writeCertFiles(t *testing.T, dir string) (chain, key, otherKey string, leafDER []byte) {
	t.Helper()
	newKey := func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, leafKey, strayKey := newKey(), newKey(), newKey()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "files.example.com"},
		DNSNames: []string{"files.example.com"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour)}
	leafDER, err = x509.CreateCertificate(rand.Reader, leaf, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pemOf := func(typ string, b []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}) }
	write := func(name string, b []byte) string {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
		return name
	}
	chainPEM := append(pemOf("CERTIFICATE", leafDER), pemOf("CERTIFICATE", caDER)...)
	return write("chain.pem", chainPEM),
		write("key.pem", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(leafKey))),
		write("other.pem", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(strayKey))),
		leafDER
}

func TestCertificateFromFiles(t *testing.T) {
	dir := t.TempDir()
	chain, key, other, leafDER := writeCertFiles(t, dir)
	withFiles := func(cert, key string) string {
		extra := "    cert_file: " + cert + "\n"
		if key != "" {
			extra += "    key_file: " + key + "\n"
		}
		return strings.Replace(baseYAML, "  - name: grafana-tls\n", "  - name: grafana-tls\n"+extra, 1)
	}
	path := filepath.Join(dir, "core.yaml")
	// Relative paths resolve against the file's directory, not the cwd.
	if err := os.WriteFile(path, []byte(withFiles(chain, key)), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	m := c.Certificates[0].material
	sum := sha256.Sum256(leafDER)
	if m.fingerprintSHA256 != colonHexRef(sum[:]) || m.keyType != "rsa" || m.keyPEM == "" || m.generated {
		t.Errorf("material: fp %s type %s", m.fingerprintSHA256, m.keyType)
	}
	if strings.Count(m.certPEM, "BEGIN CERTIFICATE") != 2 {
		t.Errorf("chain not served whole: %s", m.certPEM)
	}
	if obj := certificateObject(&c.Certificates[0]); !obj.PrivateKeyAvailable || obj.CertSubject != "CN=files.example.com" {
		t.Errorf("keypair object: %+v", obj)
	}

	// A certificate without a key is served without one.
	if err := os.WriteFile(path, []byte(withFiles(chain, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if obj := certificateObject(&c.Certificates[0]); obj.PrivateKeyAvailable || obj.PrivateKeyDownloadURL != "" {
		t.Errorf("keyless keypair: %+v", obj)
	}

	// A key that is not the leaf's is refused, naming key_file.
	if err := os.WriteFile(path, []byte(withFiles(chain, other)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), "certificates[0].key_file:") || !strings.HasPrefix(err.Error(), path+": line ") {
		t.Errorf("mismatched key: %v", err)
	}
	// A file that is no certificate, naming cert_file.
	if err := os.WriteFile(path, []byte(withFiles(key, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), "certificates[0].cert_file:") {
		t.Errorf("key as certificate: %v", err)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(baseYAML))
	f.Add([]byte("outposts: [{pk: " + pkA + ", name: a, token: t, providers: [p]}]\nproviders: [{name: p, external_host: 'http://h', internal_host: 'http://u', client_id: c, client_secret: s0123456789abcdef0123456789abcdef, cookie_secret: k0123456789abcdef, certificate: c1}]\ncertificates: [{name: c1, hosts: ['::1', x]}]\n"))
	f.Add([]byte("outposts: [{pk: " + pkA + ", name: a, token: t, config: {a: [1, {b: .inf}]}}]\n"))
	f.Add([]byte("outposts: []\n"))
	f.Add([]byte("{"))
	f.Add([]byte("- 1\n- 2\n"))
	f.Add([]byte("users: [{username: u, password_hash: '$2a$04$abcdefghijklmnopqrstuuO5Q6x8w8Z0YqJ3Gz0Kx1c9h4d4FfGe'}]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err != nil {
			return
		}
		// Whatever is accepted can be served: every response encodes.
		for i := range c.Outposts {
			o := &c.Outposts[i]
			if _, err := json.Marshal(outpostObject(c, o)); err != nil {
				t.Fatalf("outpost %d does not encode: %v", i, err)
			}
			for _, p := range c.providersOf(o) {
				if _, err := json.Marshal(proxyOutpostConfig(c, p, "http://h")); err != nil {
					t.Fatalf("provider %s does not encode: %v", p.Name, err)
				}
			}
			if outpostDigest(c, o) == nil {
				t.Fatal("no digest")
			}
		}
		for i := range c.Certificates {
			if _, err := json.Marshal(certificateObject(&c.Certificates[i])); err != nil {
				t.Fatal(err)
			}
		}
		for _, u := range c.Users {
			if _, err := json.Marshal(u.Attributes); err != nil {
				t.Fatal(err)
			}
		}
	})
}
