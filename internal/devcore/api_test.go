package devcore

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/outpostapi"
)

func TestOutpostInstancesRequiredProperties(t *testing.T) {
	core := startCore(t, mustParse(t, baseYAML))
	m := getJSON(t, core.url("/api/v3/outposts/instances/"), tokenA, 200)
	requireKeys(t, "paginated list", m, "pagination", "results", "autocomplete")
	requireKeys(t, "pagination", m["pagination"].(map[string]any), "next", "previous", "count", "current", "total_pages", "start_index", "end_index")
	results := m["results"].([]any)
	if len(results) != 1 {
		t.Fatalf("token A sees %d outposts, want its own only", len(results))
	}
	o := results[0].(map[string]any)
	requireKeys(t, "Outpost", o, "pk", "name", "type", "providers", "providers_obj", "service_connection_obj",
		"refresh_interval_s", "token_identifier", "config", "managed", "service_connection")
	if o["service_connection_obj"] != nil || o["managed"] != nil || o["service_connection"] != nil {
		t.Errorf("service_connection(_obj)/managed must be null: %v", o)
	}
	want := map[string]any{
		"pk": pkA, "name": "outpost-a", "type": "proxy", "refresh_interval_s": 300.0,
		"token_identifier": "ak-outpost-" + pkA + "-api",
		"providers":        []any{1.0, 2.0},
	}
	for k, v := range want {
		if !reflect.DeepEqual(o[k], v) {
			t.Errorf("%s = %#v, want %#v", k, o[k], v)
		}
	}
	cfg := o["config"].(map[string]any)
	if cfg["log_level"] != "info" || cfg["authentik_host"] != "" || cfg["refresh_interval"] != "minutes=5" {
		t.Errorf("config defaults: %v", cfg)
	}
	objs := o["providers_obj"].([]any)
	if len(objs) != 2 {
		t.Fatalf("providers_obj: %v", objs)
	}
	for i, wantName := range []string{"prometheus", "grafana"} {
		p := objs[i].(map[string]any)
		requireKeys(t, "Provider", p, "pk", "name", "authorization_flow", "invalidation_flow", "component",
			"assigned_application_slug", "assigned_application_name", "assigned_backchannel_application_slug",
			"assigned_backchannel_application_name", "verbose_name", "verbose_name_plural", "meta_model_name")
		if p["name"] != wantName || p["component"] != "ak-provider-proxy-form" || p["verbose_name"] != "Proxy Provider" ||
			p["verbose_name_plural"] != "Proxy Providers" || p["meta_model_name"] != "authentik_providers_proxy.proxyprovider" {
			t.Errorf("providers_obj[%d] = %v", i, p)
		}
	}
	if objs[1].(map[string]any)["assigned_application_slug"] != "grafana-app" {
		t.Errorf("application slug: %v", objs[1])
	}

	// B's outpost carries its own config, with authentik's defaults added.
	m = getJSON(t, core.url("/api/v3/outposts/instances/"), tokenB, 200)
	o = m["results"].([]any)[0].(map[string]any)
	cfg = o["config"].(map[string]any)
	if o["pk"] != pkB || o["refresh_interval_s"] != 60.0 || cfg["log_level"] != "debug" ||
		cfg["authentik_host"] != "https://auth.example.com" || cfg["refresh_interval"] != "minutes=1" ||
		cfg["authentik_host_insecure"] != false {
		t.Errorf("outpost B: %v", o)
	}
}

func TestRootConfigRequiredProperties(t *testing.T) {
	core := startCore(t, mustParse(t, baseYAML))
	m := getJSON(t, core.url("/api/v3/root/config/"), tokenA, 200)
	requireKeys(t, "Config", m, "error_reporting", "capabilities", "cache_timeout", "cache_timeout_flows", "cache_timeout_policies")
	requireKeys(t, "error_reporting", m["error_reporting"].(map[string]any), "enabled", "sentry_dsn", "environment", "send_pii", "traces_sample_rate")
	if _, ok := m["capabilities"].([]any); !ok {
		t.Errorf("capabilities is not a list: %v", m["capabilities"])
	}
}

func TestProxyProvidersRequiredProperties(t *testing.T) {
	core := startCore(t, mustParse(t, baseYAML))
	m := getJSON(t, core.url("/api/v3/outposts/proxy/?page=1&page_size=100"), tokenA, 200)
	results := m["results"].([]any)
	if len(results) != 2 {
		t.Fatalf("results: %v", results)
	}
	byName := map[string]map[string]any{}
	for i, r := range results {
		p := r.(map[string]any)
		requireKeys(t, "ProxyOutpostConfig", p, "pk", "name", "internal_host", "external_host", "internal_host_ssl_validation",
			"client_id", "client_secret", "oidc_configuration", "cookie_secret", "certificate", "skip_path_regex",
			"basic_auth_enabled", "basic_auth_password_attribute", "basic_auth_user_attribute", "mode", "cookie_domain",
			"access_token_validity", "intercept_header_auth", "scopes_to_request", "assigned_application_slug", "assigned_application_name")
		oidc := p["oidc_configuration"].(map[string]any)
		requireKeys(t, "OpenIDConnectConfiguration", oidc, "issuer", "authorization_endpoint", "token_endpoint", "userinfo_endpoint",
			"end_session_endpoint", "introspection_endpoint", "jwks_uri", "response_types_supported",
			"id_token_signing_alg_values_supported", "subject_types_supported", "token_endpoint_auth_methods_supported")
		if len(oidc) != 11 {
			t.Errorf("oidc_configuration has %d properties, want 11", len(oidc))
		}
		byName[p["name"].(string)] = p
		if i == 0 && p["name"] != "grafana" {
			t.Errorf("not ordered by name: %v first", p["name"])
		}
	}
	prom := byName["prometheus"]
	if prom["certificate"] != nil {
		t.Errorf("prometheus certificate = %v, want null", prom["certificate"])
	}
	want := map[string]any{
		"pk": 1.0, "mode": "proxy", "internal_host_ssl_validation": true, "intercept_header_auth": true,
		"access_token_validity": 86400.0, "assigned_application_slug": "prometheus", "assigned_application_name": "prometheus",
		"scopes_to_request": []any{"openid", "email", "profile", "entitlements", "ak_proxy"},
		"cookie_domain":     "", "skip_path_regex": "", "basic_auth_enabled": false,
	}
	for k, v := range want {
		if !reflect.DeepEqual(prom[k], v) {
			t.Errorf("prometheus %s = %#v, want %#v", k, prom[k], v)
		}
	}
	// The OIDC URLs are built from the host the outpost called.
	oidc := prom["oidc_configuration"].(map[string]any)
	base := "http://" + core.addr
	if oidc["issuer"] != base+"/application/o/prometheus/" || oidc["token_endpoint"] != base+"/application/o/token/" {
		t.Errorf("oidc_configuration: %v", oidc)
	}
	graf := byName["grafana"]
	cert, ok := graf["certificate"].(string)
	if !ok || !djangoUUID.MatchString(cert) {
		t.Errorf("grafana certificate = %#v, want a uuid", graf["certificate"])
	}
	if graf["mode"] != "forward_single" || graf["internal_host"] != "" {
		t.Errorf("grafana: %v", graf)
	}

	// The name filter.
	m = getJSON(t, core.url("/api/v3/outposts/proxy/?name=prometheus"), tokenA, 200)
	if rs := m["results"].([]any); len(rs) != 1 || rs[0].(map[string]any)["name"] != "prometheus" {
		t.Errorf("name filter: %v", rs)
	}
	m = getJSON(t, core.url("/api/v3/outposts/proxy/?name=secret-app"), tokenA, 200)
	if rs := m["results"].([]any); len(rs) != 0 {
		t.Errorf("name filter crossed outposts: %v", rs)
	}
}

// pageOf fetches one page of the provider list.
func pageOf(t *testing.T, core *testCore, query string) (outpostapi.Pagination, []string) {
	t.Helper()
	code, b := do(t, http.MethodGet, core.url("/api/v3/outposts/proxy/"+query), tokenA, "")
	if code != 200 {
		t.Fatalf("%s: %d %s", query, code, b)
	}
	var page outpostapi.Paginated[outpostapi.ProxyOutpostConfig]
	if err := json.Unmarshal(b, &page); err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(page.Results))
	for i, p := range page.Results {
		names[i] = p.Name
	}
	return page.Pagination, names
}

func TestProxyProvidersPagination(t *testing.T) {
	var y strings.Builder
	y.WriteString("outposts:\n  - pk: " + pkA + "\n    name: big\n    token: " + tokenA + "\n    providers:\n")
	// Assigned in reverse so that ordering by name is the server's doing.
	for i := 249; i >= 0; i-- {
		fmt.Fprintf(&y, "      - p%03d\n", i)
	}
	y.WriteString("providers:\n")
	for i := range 250 {
		fmt.Fprintf(&y, "  - {name: p%03d, external_host: 'https://p%03d.example.com', internal_host: 'http://up', client_id: c%03d, client_secret: s0123456789abcdef0123456789abcdef, cookie_secret: k0123456789abcdef}\n", i, i, i)
	}
	core := startCore(t, mustParse(t, y.String()))

	want := []outpostapi.Pagination{
		{Next: 2, Previous: 0, Count: 250, Current: 1, TotalPages: 3, StartIndex: 1, EndIndex: 100},
		{Next: 3, Previous: 1, Count: 250, Current: 2, TotalPages: 3, StartIndex: 101, EndIndex: 200},
		{Next: 0, Previous: 2, Count: 250, Current: 3, TotalPages: 3, StartIndex: 201, EndIndex: 250},
	}
	// Walk the pages as an outpost does: while next > 0.
	var all []string
	for page, walked := 1, 0; ; walked++ {
		if walked == len(want) {
			t.Fatalf("still a next page after %d pages", walked)
		}
		p, names := pageOf(t, core, fmt.Sprintf("?page=%d&page_size=100", page))
		if p != want[walked] {
			t.Errorf("page %d: %+v, want %+v", page, p, want[walked])
		}
		all = append(all, names...)
		if p.Next == 0 {
			break
		}
		page = p.Next
	}
	if len(all) != 250 {
		t.Fatalf("walked %d providers, want 250", len(all))
	}
	for i, n := range all {
		if n != fmt.Sprintf("p%03d", i) {
			t.Fatalf("provider %d is %s: not ordered by name", i, n)
		}
	}

	// page_size is capped at 100; invalid sizes mean the default.
	for _, q := range []string{"?page_size=1000", "?page_size=0", "?page_size=-5", "?page_size=abc", ""} {
		t.Run(q, func(t *testing.T) {
			if p, names := pageOf(t, core, q); len(names) != 100 || p.TotalPages != 3 {
				t.Errorf("%q: %d results, %+v", q, len(names), p)
			}
		})
	}
	if p, names := pageOf(t, core, "?page=last&page_size=100"); p.Current != 3 || len(names) != 50 {
		t.Errorf("page=last: %+v", p)
	}
	if p, names := pageOf(t, core, "?page=2&page_size=7"); p.Current != 2 || p.Next != 3 || p.Previous != 1 ||
		p.TotalPages != 36 || p.StartIndex != 8 || p.EndIndex != 14 || names[0] != "p007" {
		t.Errorf("page_size=7: %+v %v", p, names)
	}
	for _, q := range []string{"?page=4&page_size=100", "?page=0", "?page=-1", "?page=abc", "?page=1.5"} {
		t.Run(q, func(t *testing.T) {
			code, b := do(t, http.MethodGet, core.url("/api/v3/outposts/proxy/"+q), tokenA, "")
			if code != 404 || strings.TrimSpace(string(b)) != `{"detail":"Invalid page."}` {
				t.Errorf("%s: %d %s, want 404 Invalid page.", q, code, b)
			}
		})
	}
}

func TestEmptyProviderListHasPageOne(t *testing.T) {
	core := startCore(t, mustParse(t, strings.Replace(baseYAML, "providers: [secret-app]", "providers: []", 1)))
	code, b := do(t, http.MethodGet, core.url("/api/v3/outposts/proxy/?page=1"), tokenB, "")
	want := `{"pagination":{"next":0,"previous":0,"count":0,"current":1,"total_pages":1,"start_index":0,"end_index":0},"results":[],"autocomplete":{}}`
	if code != 200 || strings.TrimSpace(string(b)) != want {
		t.Errorf("%d %s\nwant %s", code, b, want)
	}
}

func TestAPIAuthentication(t *testing.T) {
	core := startCore(t, mustParse(t, baseYAML))
	paths := []string{"/api/v3/outposts/instances/", "/api/v3/outposts/proxy/", "/api/v3/root/config/", "/api/v3/events/events/", "/api/v3/nothing/"}
	for _, path := range paths {
		t.Run(path, func(t *testing.T) {
			for _, auth := range []string{"", "Bearer", "Bearer ", "Bearer wrong", "Basic " + tokenA, tokenA, "Token " + tokenA} {
				req, _ := http.NewRequest(http.MethodGet, core.url(path), nil)
				if auth != "" {
					req.Header.Set("Authorization", auth)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var body map[string]any
				err = json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				if resp.StatusCode != 403 || err != nil || body["detail"] == "" || resp.Header.Get("Content-Type") != "application/json" {
					t.Errorf("%s with %q: %d %v %v", path, auth, resp.StatusCode, body, err)
				}
			}
		})
	}
	// The scheme is case-insensitive.
	for _, scheme := range []string{"bearer", "BEARER", "BeArEr"} {
		t.Run(scheme, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, core.url("/api/v3/root/config/"), nil)
			req.Header.Set("Authorization", scheme+" "+tokenA)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("scheme %q: %d", scheme, resp.StatusCode)
			}
		})
	}
}

func TestAPIRoutes(t *testing.T) {
	core := startCore(t, mustParse(t, baseYAML))
	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/api/v3/outposts/instances", 404}, // authentik's routes end in a slash
		{"GET", "/api/v3/outposts/proxy", 404},
		{"GET", "/api/v3/unknown/", 404},
		{"GET", "/api/v3/crypto/certificatekeypairs/", 404},
		{"GET", "/api/v3/crypto/certificatekeypairs/not-a-uuid/", 404},
		{"POST", "/api/v3/outposts/instances/", 405},
		{"DELETE", "/api/v3/outposts/proxy/", 405},
		{"GET", "/api/v3/events/events/", 405},
		{"HEAD", "/api/v3/root/config/", 200},
	} {
		t.Run(tc.method+"_"+tc.path, func(t *testing.T) {
			code, b := do(t, tc.method, core.url(tc.path), tokenA, "")
			if code != tc.code {
				t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, code, b, tc.code)
			}
			if tc.method != "HEAD" && tc.code != 200 {
				var m map[string]any
				if err := json.Unmarshal(b, &m); err != nil || m["detail"] == nil {
					t.Errorf("%s %s: body %s is not {\"detail\":...}", tc.method, tc.path, b)
				}
			}
		})
	}
}

func TestCertificateEndpoints(t *testing.T) {
	cfg := mustParse(t, baseYAML)
	core := startCore(t, cfg)
	grafana := cfg.Certificates[cfg.certNameIdx["grafana-tls"]].UUID
	bCert := cfg.Certificates[cfg.certNameIdx["b-tls"]].UUID
	base := core.url("/api/v3/crypto/certificatekeypairs/" + grafana + "/")

	m := getJSON(t, base, tokenA, 200)
	requireKeys(t, "CertificateKeyPair", m, "pk", "name", "fingerprint_sha256", "fingerprint_sha1", "cert_expiry",
		"cert_subject", "private_key_available", "key_type", "certificate_download_url", "private_key_download_url", "managed")
	if m["pk"] != grafana || m["name"] != "grafana-tls" || m["private_key_available"] != true || m["key_type"] != "ec" || m["managed"] != nil {
		t.Errorf("keypair: %v", m)
	}
	certData := getJSON(t, base+"view_certificate/", tokenA, 200)["data"].(string)
	keyData := getJSON(t, base+"view_private_key/", tokenA, 200)["data"].(string)
	kp, err := tls.X509KeyPair([]byte(certData), []byte(keyData))
	if err != nil {
		t.Fatalf("served certificate and key do not form a pair: %v", err)
	}
	leaf, err := x509.ParseCertificate(kp.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	// The fingerprints the outpost compares are those of the served DER.
	s256, s1 := sha256.Sum256(leaf.Raw), sha1.Sum(leaf.Raw)
	if m["fingerprint_sha256"] != colonHexRef(s256[:]) || m["fingerprint_sha1"] != colonHexRef(s1[:]) {
		t.Errorf("fingerprints %v / %v do not match the served certificate", m["fingerprint_sha256"], m["fingerprint_sha1"])
	}
	// A certificate without hosts covers its providers' hosts.
	if err := leaf.VerifyHostname("grafana.example.com"); err != nil {
		t.Errorf("generated certificate: %v", err)
	}
	if exp, err := time.Parse(time.RFC3339, m["cert_expiry"].(string)); err != nil || !exp.Equal(leaf.NotAfter) {
		t.Errorf("cert_expiry %v, certificate says %v", m["cert_expiry"], leaf.NotAfter)
	}

	// ?download gives the PEM itself.
	code, b := do(t, "GET", base+"view_certificate/?download", tokenA, "")
	if blk, _ := pem.Decode(b); code != 200 || blk == nil || blk.Type != "CERTIFICATE" {
		t.Errorf("download: %d %q", code, b)
	}

	// Outpost A cannot read B's certificate, nor an unknown one; B can.
	for _, u := range []string{
		"/api/v3/crypto/certificatekeypairs/" + bCert + "/",
		"/api/v3/crypto/certificatekeypairs/" + bCert + "/view_private_key/",
		"/api/v3/crypto/certificatekeypairs/00000000-0000-4000-8000-000000000000/",
		"/api/v3/crypto/certificatekeypairs/" + grafana + "/view_other/",
		"/api/v3/crypto/certificatekeypairs/" + strings.ToUpper(grafana) + "/",
	} {
		t.Run(u, func(t *testing.T) {
			if code, b := do(t, "GET", core.url(u), tokenA, ""); code != 404 {
				t.Errorf("A GET %s: %d %s", u, code, b)
			}
		})
	}
	m = getJSON(t, core.url("/api/v3/crypto/certificatekeypairs/"+bCert+"/view_certificate/"), tokenB, 200)
	blk, _ := pem.Decode([]byte(m["data"].(string)))
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if c.VerifyHostname("secret.example.com") != nil || c.VerifyHostname("10.0.0.1") != nil {
		t.Errorf("b-tls SANs: %v %v", c.DNSNames, c.IPAddresses)
	}
}

// colonHexRef is an independent rendering of authentik's fingerprint format.
func colonHexRef(b []byte) string {
	var s strings.Builder
	for i, x := range b {
		if i > 0 {
			s.WriteByte(':')
		}
		fmt.Fprintf(&s, "%02x", x)
	}
	return s.String()
}

func TestEventsAreRecorded(t *testing.T) {
	core := startCore(t, mustParse(t, baseYAML))
	body := `{"action":"configuration_error","app":"authentik.providers.proxy","client_ip":"192.0.2.1:1234",` +
		`"context":{"message":"configuration error","provider":"grafana","outpost":"outpost-a","url":"https://x/","headers":{"X-A":"1"}}}`
	code, b := do(t, http.MethodPost, core.url("/api/v3/events/events/"), tokenA, body)
	if code != 201 {
		t.Fatalf("POST event: %d %s", code, b)
	}
	var ev map[string]any
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	requireKeys(t, "Event", ev, "pk", "user", "action", "app", "context", "client_ip", "created", "expires")
	if ev["action"] != "configuration_error" || ev["client_ip"] != "192.0.2.1:1234" ||
		ev["context"].(map[string]any)["provider"] != "grafana" {
		t.Errorf("echo: %v", ev)
	}

	for _, bad := range []string{"", "[]", "null", `{"app":"x"}`, `{"action":"x"}`, `{"action":1,"app":"x"}`, `{"action":"x","app":"y","context":[]}`, `{"action":"x","app":"y"} {}`} {
		t.Run(bad, func(t *testing.T) {
			if code, b := do(t, http.MethodPost, core.url("/api/v3/events/events/"), tokenA, bad); code != 400 {
				t.Errorf("POST %q: %d %s, want 400", bad, code, b)
			}
		})
	}

	st := getJSON(t, core.url("/api/devcore/status"), tokenB, 200)
	evs := st["events"].([]any)
	if len(evs) != 1 {
		t.Fatalf("status events: %v", evs)
	}
	got := evs[0].(map[string]any)
	if got["pk"] != ev["pk"] || got["outpost"] != pkA || got["action"] != "configuration_error" {
		t.Errorf("status event: %v", got)
	}

	// Only the last 100 are kept.
	for i := range 105 {
		do(t, http.MethodPost, core.url("/api/v3/events/events/"), tokenA, fmt.Sprintf(`{"action":"custom_%d","app":"x"}`, i))
	}
	evs = getJSON(t, core.url("/api/devcore/status"), tokenA, 200)["events"].([]any)
	if len(evs) != 100 || evs[99].(map[string]any)["action"] != "custom_104" || evs[0].(map[string]any)["action"] != "custom_5" {
		t.Errorf("kept %d events, first %v", len(evs), evs[0])
	}
}

func TestAdminEndpointsGuard(t *testing.T) {
	// Without admin_token any outpost token is enough.
	core := startCore(t, mustParse(t, baseYAML))
	for _, tc := range []struct {
		token string
		code  int
	}{{tokenA, 200}, {tokenB, 200}, {"", 403}, {"nope", 403}} {
		t.Run("no admin_token/"+tc.token, func(t *testing.T) {
			if code, b := do(t, "GET", core.url("/api/devcore/status"), tc.token, ""); code != tc.code {
				t.Errorf("status with %q: %d %s", tc.token, code, b)
			}
		})
	}
	// With it, only the admin token.
	core = startCore(t, mustParse(t, "admin_token: the-admin\n"+baseYAML))
	for _, tc := range []struct {
		token string
		code  int
	}{{"the-admin", 200}, {tokenA, 403}, {"", 403}} {
		t.Run("admin_token/"+tc.token, func(t *testing.T) {
			if code, b := do(t, "GET", core.url("/api/devcore/status"), tc.token, ""); code != tc.code {
				t.Errorf("status with %q: %d %s", tc.token, code, b)
			}
			if code, b := do(t, "POST", core.url("/api/devcore/session-end"), tc.token, `{"session_id":"x"}`); code != tc.code {
				t.Errorf("session-end with %q: %d %s", tc.token, code, b)
			}
		})
	}
	for _, bad := range []string{"", `{}`, `{"session_id":""}`, `{"session_id":1}`, `{"session_id":"x","legacy":"yes"}`} {
		t.Run("bad session-end body/"+bad, func(t *testing.T) {
			if code, b := do(t, "POST", core.url("/api/devcore/session-end"), "the-admin", bad); code != 400 {
				t.Errorf("session-end %q: %d %s", bad, code, b)
			}
		})
	}
	if code, _ := do(t, "GET", core.url("/api/devcore/session-end"), "the-admin", ""); code != 405 {
		t.Errorf("GET session-end: %d", code)
	}
}
