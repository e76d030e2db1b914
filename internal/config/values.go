package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/outpost-dev/outpost/outpostapi"
)

// How one value of the environment is read: indirections, booleans, lists,
// addresses and URLs.

// maxEnvFileSize bounds file:// values: they hold a token or a URL, and a
// mistaken path to a huge file must not be read into memory.
const maxEnvFileSize = 1 << 20

// ResolveEnvValue resolves authentik's indirections: "env://NAME?fallback" is
// the value of NAME, else the fallback (raw, after the first "?");
// "file:///path" is the trimmed content of the file ("?fallback" is used when
// it cannot be read). Anything else is returned unchanged. Resolution is one
// level deep, so values cannot loop.
func ResolveEnvValue(raw string, lookup func(string) (string, bool)) (string, error) {
	switch {
	case strings.HasPrefix(raw, "env://"):
		name, fallback, _ := strings.Cut(strings.TrimPrefix(raw, "env://"), "?")
		if name == "" {
			return "", errors.New("env:// needs a variable name, e.g. env://NAME?fallback")
		}
		if v, ok := lookup(name); ok {
			return v, nil
		}
		return fallback, nil
	case strings.HasPrefix(raw, "file://"):
		path, fallback, hasFallback := strings.Cut(strings.TrimPrefix(raw, "file://"), "?")
		if !strings.HasPrefix(path, "/") {
			return "", fmt.Errorf("file:// needs an absolute path, e.g. file:///run/secrets/token (got %q)", raw)
		}
		b, err := readSmallFile(path)
		if err != nil {
			if hasFallback {
				return fallback, nil
			}
			return "", err
		}
		return strings.TrimSpace(string(b)), nil
	}
	return raw, nil
}

func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxEnvFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %v", path, err)
	}
	if len(b) > maxEnvFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxEnvFileSize)
	}
	return b, nil
}

// ParseEnvBool accepts true/false, 1/0, yes/no in any case.
func ParseEnvBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes":
		return true, nil
	case "false", "0", "no":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (want true/false, 1/0 or yes/no)", s)
}

// ParseList splits a comma list or a JSON list of strings. Items are trimmed;
// blank items of a comma list are skipped. An explicit JSON "[]" yields an
// empty, non-nil list.
func ParseList(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if looksLikeJSONList(s) {
		var items []string
		if err := json.Unmarshal([]byte(s), &items); err != nil {
			return nil, fmt.Errorf("not a JSON list of strings: %v", err)
		}
		out := make([]string, 0, len(items))
		for i, it := range items {
			it = strings.TrimSpace(it)
			if it == "" {
				return nil, fmt.Errorf("item %d of the JSON list is empty", i+1)
			}
			out = append(out, it)
		}
		return out, nil
	}
	var out []string
	for it := range strings.SplitSeq(s, ",") {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out, nil
}

// looksLikeJSONList tells a JSON list (`[` then `"` or `]`) from a comma
// list starting with a bracketed IPv6 address such as "[::]:9000".
func looksLikeJSONList(s string) bool {
	rest, ok := strings.CutPrefix(s, "[")
	if !ok {
		return false
	}
	rest = strings.TrimLeft(rest, " \t\r\n")
	return rest == "" || rest[0] == '"' || rest[0] == ']'
}

// ParseListenAddrs parses a listener value: one host:port or a list of them.
func ParseListenAddrs(s string) ([]string, error) {
	items, err := ParseList(s)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, errors.New("no address given (want host:port)")
	}
	for _, a := range items {
		_, port, err := net.SplitHostPort(a)
		if err != nil {
			return nil, fmt.Errorf("%q is not host:port: %v", a, err)
		}
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || (port != "0" && n == 0) {
			return nil, fmt.Errorf("%q: port %q is not a number from 0 to 65535", a, port)
		}
	}
	return items, nil
}

// ParsePrefixList parses CIDRs as a comma list or a JSON list. A bare address
// counts as a single host (/32 or /128). Prefixes are masked to canonical form.
func ParsePrefixList(s string) ([]netip.Prefix, error) {
	items, err := ParseList(s)
	if err != nil {
		return nil, err
	}
	out := make([]netip.Prefix, 0, len(items))
	for _, it := range items {
		p, err := parsePrefix(it)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR: %v", s, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither a CIDR nor an IP address", s)
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q: an address with a zone cannot be a trusted proxy", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// parseCoreURL checks an http(s) base URL. For AUTHENTIK_HOST (base=true) a
// sub-path must end in "/" since the API and websocket paths are appended to
// it; an empty path becomes "/".
func parseCoreURL(s string, base bool) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("not a URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q: scheme must be http or https", s)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%q: has no host", s)
	}
	if u.User != nil {
		return nil, fmt.Errorf("URL must not contain user info (credentials in URLs end up in logs)")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return nil, fmt.Errorf("%q: bad port %q", s, p)
		}
	}
	if base {
		if u.Path == "" {
			u.Path, u.RawPath = "/", ""
		}
		if !strings.HasSuffix(u.Path, "/") {
			return nil, fmt.Errorf("%q: a sub-path must end in \"/\" (API and websocket paths are appended to it), e.g. %q", s, u.Path+"/")
		}
		u.Fragment, u.RawFragment = "", ""
	}
	return u, nil
}

// ParseUpgradeList reads an allowed-upgrades list: protocol tokens
// separated by commas ("websocket, SPDY/3.1"). "" and "none" allow none.
func ParseUpgradeList(s string) ([]string, error) {
	out := []string{}
	if t := strings.TrimSpace(s); t == "" || strings.EqualFold(t, "none") {
		return out, nil
	}
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if err := outpostapi.CheckUpgradeProtocol(p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
