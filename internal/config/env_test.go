package config

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func mapLookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestLoadEnvDefaults(t *testing.T) {
	env, err := Load(mapLookup(map[string]string{
		"AUTHENTIK_HOST":  "https://auth.example.com",
		"AUTHENTIK_TOKEN": "tok",
	}), true)
	if err != nil {
		t.Fatal(err)
	}
	if got := env.Core.Host.String(); got != "https://auth.example.com/" {
		t.Errorf("Host = %q, want the path completed to /", got)
	}
	if env.Core.Token != "tok" || env.Core.Insecure || env.Proxy.Insecure || env.Log.Debug || env.Proxy.BrowserURL != nil {
		t.Errorf("unexpected values: %v", env)
	}
	if !reflect.DeepEqual(env.Listen.HTTP, []string{"0.0.0.0:9000"}) || !reflect.DeepEqual(env.Listen.HTTPS, []string{"0.0.0.0:9443"}) ||
		!reflect.DeepEqual(env.Listen.Metrics, []string{"0.0.0.0:9300"}) {
		t.Errorf("listen defaults: %q %q %q", env.Listen.HTTP, env.Listen.HTTPS, env.Listen.Metrics)
	}
	var want []netip.Prefix
	for _, s := range strings.Split(DefaultTrustedCIDRs, ",") {
		want = append(want, netip.MustParsePrefix(s))
	}
	if !reflect.DeepEqual(env.Proxy.TrustedProxies, want) {
		t.Errorf("TrustedProxies = %v, want %v", env.Proxy.TrustedProxies, want)
	}
	if env.Log.Level != "info" {
		t.Errorf("Log.Level = %q", env.Log.Level)
	}
}

func TestLoadEnvValues(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("  from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env, err := Load(mapLookup(map[string]string{
		"AUTHENTIK_HOST":                        "https://core.internal:8443/auth/?region=eu&x=1",
		"AUTHENTIK_TOKEN":                       "file://" + tokenFile,
		"AUTHENTIK_INSECURE":                    "YES",
		"AUTHENTIK_HOST_BROWSER":                "env://BROWSER?https://fallback.example.com",
		"AUTHENTIK_LISTEN__HTTP":                "[::]:9000, 127.0.0.1:9001",
		"AUTHENTIK_LISTEN__HTTPS":               `["[::]:9443"]`,
		"AUTHENTIK_LISTEN__METRICS":             "env://METRICS?127.0.0.1:0",
		"AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS": `["10.1.2.3", "2001:db8::/32", "192.168.1.7/24"]`,
		"AUTHENTIK_LOG_LEVEL":                   "WARNING",
		"AUTHENTIK_DEBUG":                       "0",
	}), true)
	if err != nil {
		t.Fatal(err)
	}
	if env.Core.Host.Path != "/auth/" || env.Core.Host.RawQuery != "region=eu&x=1" || env.Core.Host.Host != "core.internal:8443" {
		t.Errorf("Host = %v", env.Core.Host)
	}
	if env.Core.Token != "from-file" {
		t.Errorf("file:// token not resolved and trimmed: %q", env.Core.Token)
	}
	if !env.Core.Insecure || !env.Proxy.Insecure || env.Log.Debug {
		t.Errorf("Insecure=%t/%t Debug=%t", env.Core.Insecure, env.Proxy.Insecure, env.Log.Debug)
	}
	if env.Proxy.BrowserURL == nil || env.Proxy.BrowserURL.String() != "https://fallback.example.com" {
		t.Errorf("BrowserURL = %v", env.Proxy.BrowserURL)
	}
	if !reflect.DeepEqual(env.Listen.HTTP, []string{"[::]:9000", "127.0.0.1:9001"}) {
		t.Errorf("Listen.HTTP = %v", env.Listen.HTTP)
	}
	if !reflect.DeepEqual(env.Listen.HTTPS, []string{"[::]:9443"}) || !reflect.DeepEqual(env.Listen.Metrics, []string{"127.0.0.1:0"}) {
		t.Errorf("Listen.HTTPS=%q Listen.Metrics=%q", env.Listen.HTTPS, env.Listen.Metrics)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.1.2.3/32"), netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("192.168.1.0/24")}
	if !reflect.DeepEqual(env.Proxy.TrustedProxies, want) {
		t.Errorf("TrustedProxies = %v, want %v", env.Proxy.TrustedProxies, want)
	}
	if env.Log.Level != "warning" {
		t.Errorf("Log.Level = %q", env.Log.Level)
	}
}

func TestLoadEnvStandaloneNeedsNoCore(t *testing.T) {
	env, err := Load(mapLookup(nil), false)
	if err != nil {
		t.Fatal(err)
	}
	if env.Core.Host != nil || env.Core.Token != "" {
		t.Errorf("unexpected core settings: %v", env)
	}
}

func TestLoadEnvErrors(t *testing.T) {
	const secret = "s3cr3t-token-value"
	base := map[string]string{"AUTHENTIK_HOST": "https://a.example.com/", "AUTHENTIK_TOKEN": secret}
	cases := []struct {
		name    string
		set     map[string]string
		unset   []string
		wantVar string
		wantMsg string
	}{
		{"missing host", nil, []string{"AUTHENTIK_HOST"}, "AUTHENTIK_HOST", "required"},
		{"missing token", nil, []string{"AUTHENTIK_TOKEN"}, "AUTHENTIK_TOKEN", "required"},
		{"blank token", map[string]string{"AUTHENTIK_TOKEN": "   "}, nil, "AUTHENTIK_TOKEN", "required"},
		{"token from unset env without fallback", map[string]string{"AUTHENTIK_TOKEN": "env://NOPE"}, nil, "AUTHENTIK_TOKEN", "required"},
		{"token with newline", map[string]string{"AUTHENTIK_TOKEN": secret + "\nX-Evil: 1"}, nil, "AUTHENTIK_TOKEN", "control characters"},
		{"token file missing", map[string]string{"AUTHENTIK_TOKEN": "file:///nonexistent/token"}, nil, "AUTHENTIK_TOKEN", "no such file"},
		{"relative file", map[string]string{"AUTHENTIK_TOKEN": "file://token"}, nil, "AUTHENTIK_TOKEN", "absolute path"},
		{"host sub-path without slash", map[string]string{"AUTHENTIK_HOST": "https://a.example.com/auth"}, nil, "AUTHENTIK_HOST", `must end in "/"`},
		{"host scheme", map[string]string{"AUTHENTIK_HOST": "ftp://a.example.com/"}, nil, "AUTHENTIK_HOST", "scheme"},
		{"host without scheme", map[string]string{"AUTHENTIK_HOST": "a.example.com"}, nil, "AUTHENTIK_HOST", "scheme"},
		{"host with user info", map[string]string{"AUTHENTIK_HOST": "https://u:p@a.example.com/"}, nil, "AUTHENTIK_HOST", "user info"},
		{"host bad port", map[string]string{"AUTHENTIK_HOST": "https://a.example.com:99999/"}, nil, "AUTHENTIK_HOST", "port"},
		{"browser host", map[string]string{"AUTHENTIK_HOST_BROWSER": "nope"}, nil, "AUTHENTIK_HOST_BROWSER", "scheme"},
		{"insecure", map[string]string{"AUTHENTIK_INSECURE": "maybe"}, nil, "AUTHENTIK_INSECURE", "not a boolean"},
		{"debug", map[string]string{"AUTHENTIK_DEBUG": "2"}, nil, "AUTHENTIK_DEBUG", "not a boolean"},
		{"listen no port", map[string]string{"AUTHENTIK_LISTEN__HTTP": "0.0.0.0"}, nil, "AUTHENTIK_LISTEN__HTTP", "host:port"},
		{"listen bad port", map[string]string{"AUTHENTIK_LISTEN__HTTPS": "0.0.0.0:https"}, nil, "AUTHENTIK_LISTEN__HTTPS", "port"},
		{"listen big port", map[string]string{"AUTHENTIK_LISTEN__METRICS": ":70000"}, nil, "AUTHENTIK_LISTEN__METRICS", "port"},
		{"listen bad json", map[string]string{"AUTHENTIK_LISTEN__METRICS": `[":1",]`}, nil, "AUTHENTIK_LISTEN__METRICS", "JSON"},
		{"cidr", map[string]string{"AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS": "10.0.0.0/8,10.0.0.0/33"}, nil, "AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS", "10.0.0.0/33"},
		{"cidr hostname", map[string]string{"AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS": "proxy.local"}, nil, "AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS", "neither"},
		{"cidr zone", map[string]string{"AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS": "fe80::1%eth0"}, nil, "AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS", "zone"},
		{"log level", map[string]string{"AUTHENTIK_LOG_LEVEL": "verbose"}, nil, "AUTHENTIK_LOG_LEVEL", "unknown level"},
		{"env without name", map[string]string{"AUTHENTIK_LOG_LEVEL": "env://?info"}, nil, "AUTHENTIK_LOG_LEVEL", "variable name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := map[string]string{}
			for k, v := range base {
				m[k] = v
			}
			for k, v := range tc.set {
				m[k] = v
			}
			for _, k := range tc.unset {
				delete(m, k)
			}
			_, err := Load(mapLookup(m), true)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.wantVar+": ") || !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("error %q does not name %s with %q", msg, tc.wantVar, tc.wantMsg)
			}
			if strings.Contains(msg, secret) {
				t.Errorf("error %q leaks the token", msg)
			}
		})
	}
}

func TestLoadEnvReportsEveryProblem(t *testing.T) {
	_, err := Load(mapLookup(map[string]string{"AUTHENTIK_DEBUG": "x", "AUTHENTIK_LOG_LEVEL": "y"}), true)
	if err == nil {
		t.Fatal("no error")
	}
	for _, v := range []string{"AUTHENTIK_HOST", "AUTHENTIK_TOKEN", "AUTHENTIK_DEBUG", "AUTHENTIK_LOG_LEVEL"} {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("%s missing from %q", v, err)
		}
	}
}

func TestEnvStringRedactsToken(t *testing.T) {
	env, err := Load(mapLookup(map[string]string{"AUTHENTIK_HOST": "http://a/", "AUTHENTIK_TOKEN": "very-secret"}), true)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(env), fmt.Sprintf("%v %+v %#v %s", env, env, env, env), env.String()} {
		if strings.Contains(s, "very-secret") {
			t.Errorf("token leaked: %s", s)
		}
	}
}

func TestResolveEnvValue(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "v")
	if err := os.WriteFile(f, []byte("\n value \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, maxEnvFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	lookup := mapLookup(map[string]string{"SET": "x?y", "EMPTY": "", "CHAIN": "env://SET"})
	cases := []struct {
		in, want string
		wantErr  bool
	}{
		{"plain", "plain", false},
		{"", "", false},
		{"env://SET", "x?y", false},
		{"env://SET?fb", "x?y", false},
		{"env://EMPTY?fb", "", false}, // set but empty is still set
		{"env://UNSET?fb", "fb", false},
		{"env://UNSET?a?b=c&d", "a?b=c&d", false},
		{"env://UNSET", "", false},
		{"env://CHAIN", "env://SET", false}, // one level only
		{"env://", "", true},
		{"file://" + f, "value", false},
		{"file:///nonexistent?fb", "fb", false},
		{"file:///nonexistent", "", true},
		{"file://" + big, "", true},
		{"file://relative", "", true},
		{"https://example.com/?env://X", "https://example.com/?env://X", false},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ResolveEnvValue(tc.in, lookup)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("ResolveEnvValue(%q) = %q, %v; want %q, err=%t", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestParseEnvBool(t *testing.T) {
	for in, want := range map[string]bool{"true": true, "TRUE": true, "1": true, "Yes": true, "false": false, "False": false, "0": false, "NO": false} {
		t.Run(in, func(t *testing.T) {
			got, err := ParseEnvBool(in)
			if err != nil || got != want {
				t.Errorf("ParseEnvBool(%q) = %t, %v", in, got, err)
			}
		})
	}
	for _, in := range []string{"", "y", "on", "2", "truee"} {
		t.Run(in, func(t *testing.T) {
			if _, err := ParseEnvBool(in); err == nil {
				t.Errorf("ParseEnvBool(%q) accepted", in)
			}
		})
	}
}

func TestParseList(t *testing.T) {
	cases := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"a", []string{"a"}, false},
		{" a , b,,c ", []string{"a", "b", "c"}, false},
		{"", nil, false},
		{`["a", " b "]`, []string{"a", "b"}, false},
		{`[]`, []string{}, false},
		{`["a", ""]`, nil, true},
		{`[1]`, []string{"[1]"}, false}, // not JSON strings: left to the item parser
		{`[::]:1,[::1]:2`, []string{"[::]:1", "[::1]:2"}, false},
		{`[1, "a"]`, []string{"[1", `"a"]`}, false},
		{`[ "a" ]`, []string{"a"}, false},
		{`["a"`, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseList(tc.in)
			if (err != nil) != tc.wantErr || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseList(%q) = %#v, %v; want %#v, err=%t", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestParsePrefixList(t *testing.T) {
	got, err := ParsePrefixList("10.0.0.1, ::1, 172.16.5.4/12, 2001:db8::1/64")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("2001:db8::/64"),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// An explicit empty JSON list trusts nobody, rather than falling back.
	got, err = ParsePrefixList("[]")
	if err != nil || got == nil || len(got) != 0 {
		t.Errorf(`ParsePrefixList("[]") = %#v, %v`, got, err)
	}
}

// FuzzResolveAndParse feeds arbitrary values through the resolver and every
// list parser: none may panic, and what they return must be well formed.
func FuzzResolveAndParse(f *testing.F) {
	for _, s := range []string{
		"env://A?b", "env://", "env://A", "file:///nonexistent?x", "file://", "a,b", `["a","b"]`, "[",
		"10.0.0.0/8,::1", "1.2.3.4", "[::]:9000,0.0.0.0:1", `["fe80::1%eth0"]`, "true", "YES",
	} {
		f.Add(s)
	}
	lookup := mapLookup(map[string]string{"A": "10.0.0.0/8", "B": "env://A"})
	f.Fuzz(func(t *testing.T, s string) {
		if strings.HasPrefix(s, "file://") && !strings.HasPrefix(s, "file:///nonexistent") {
			return // never read arbitrary files of the machine running the fuzzer
		}
		v, err := ResolveEnvValue(s, lookup)
		if err != nil {
			return
		}
		items, err := ParseList(v)
		if err == nil {
			for _, it := range items {
				if it == "" || it != strings.TrimSpace(it) {
					t.Fatalf("ParseList(%q) returned item %q", v, it)
				}
			}
		}
		if ps, err := ParsePrefixList(v); err == nil {
			for _, p := range ps {
				if !p.IsValid() || p != p.Masked() {
					t.Fatalf("ParsePrefixList(%q) returned %v", v, p)
				}
				if back, err := netip.ParsePrefix(p.String()); err != nil || back != p {
					t.Fatalf("prefix %v does not round-trip", p)
				}
			}
		}
		if addrs, err := ParseListenAddrs(v); err == nil && len(addrs) == 0 {
			t.Fatalf("ParseListenAddrs(%q) returned no address and no error", v)
		}
		_, _ = ParseEnvBool(v)
	})
}
