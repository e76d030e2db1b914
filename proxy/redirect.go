package proxy

import (
	"net/url"
	"strings"

	"github.com/outpost-dev/outpost/outpostapi"
)

// validRedirect returns rd as an absolute URL when it is a safe target after
// login or logout for provider p, else "". Relative targets resolve against
// the external host. Allowed: http(s) only, no user info, no backslashes,
// no control or space characters (also once percent-decoded), no
// scheme-relative forms, and a host that is the external host (proxy,
// forward_single) or inside cookie_domain on a label boundary
// (forward_domain).
func validRedirect(p *outpostapi.Provider, rd string) string {
	if rd == "" || len(rd) > 8192 || unsafeRedirectChars(rd) {
		return ""
	}
	// Once decoded, the part that picks scheme, host and path must still be
	// clean; the query and fragment may hold encoded spaces (Prometheus
	// expressions do) but no control characters.
	head, tail := rd, ""
	if i := strings.IndexAny(rd, "?#"); i >= 0 {
		head, tail = rd[:i], rd[i:]
	}
	decoded, err := url.PathUnescape(head)
	if err != nil || unsafeRedirectChars(decoded) || strings.HasPrefix(decoded, "//") {
		return ""
	}
	if decodedTail, err := url.PathUnescape(tail); err != nil || hasControlChars(decodedTail) {
		return ""
	}
	u, err := url.Parse(rd)
	if err != nil || u.Opaque != "" || u.User != nil {
		return ""
	}
	ext := p.ExternalURL
	if u.Scheme == "" && u.Host == "" {
		if !strings.HasPrefix(rd, "/") {
			return ""
		}
		u.Scheme, u.Host = ext.Scheme, ext.Host
		return canonicalTarget(u)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	switch p.Mode {
	case outpostapi.ModeForwardDomain:
		domain := strings.ToLower(strings.TrimPrefix(p.CookieDomain, "."))
		if domain == "" || !domainMatch(strings.ToLower(u.Hostname()), domain) {
			return ""
		}
	default:
		if !strings.EqualFold(withoutDefaultPort(u.Host, u.Scheme), withoutDefaultPort(ext.Host, ext.Scheme)) {
			return ""
		}
	}
	return canonicalTarget(u)
}

// canonicalTarget is u with its path canonical and no default port: a
// target of //x or /a/../b would only be redirected again (and, behind
// nginx, sent to sign in again).
func canonicalTarget(u *url.URL) string {
	u.Host = withoutDefaultPort(u.Host, u.Scheme)
	if u.Path != "" {
		if c := canonicalPath(u.Path); c != u.Path {
			u.Path, u.RawPath = c, ""
		}
	}
	return u.String()
}

// startRedirect is the rd parameter of a /start query. authentik's
// documented nginx snippet writes it unencoded
// (rd=$scheme://$http_host$request_uri), so a deep link's own query is cut
// at its first "&" into parameters of /start. An encoded rd holds no "/"
// or "?"; one that does is the raw URL, and everything after it in the
// query is the rest of that URL, byte for byte (its own encodings kept).
func startRedirect(rawQuery string) string {
	for rest := rawQuery; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, "&")
		if v, ok := strings.CutPrefix(part, "rd="); ok {
			if strings.ContainsAny(v, "/?") {
				if rest != "" {
					return v + "&" + rest
				}
				return v
			}
			break
		}
	}
	q, _ := url.ParseQuery(rawQuery)
	return q.Get("rd")
}

func unsafeRedirectChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f || c == '\\' {
			return true
		}
	}
	return false
}

func hasControlChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == 0x7f {
			return true
		}
	}
	return false
}
