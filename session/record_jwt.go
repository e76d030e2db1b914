package session

import (
	"encoding/base64"
	"strings"
)

// splitJWT takes a compact JWS apart into its decoded header, payload and
// signature, but only when joinJWT gives back exactly t: three parts, each
// canonical unpadded base64url. Anything else (a JWE, padding, stray
// bits or line breaks, an opaque token) is not split and is kept as it is.
func splitJWT(t string) (header, payload, sig []byte, ok bool) {
	h, rest, ok1 := strings.Cut(t, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s, ".") {
		return nil, nil, nil, false
	}
	var parts [3][]byte
	for i, part := range []string{h, p, s} {
		b, err := base64.RawURLEncoding.DecodeString(part)
		// The decoder ignores CR and LF and the unused bits of the last
		// character; re-encoding is what proves the part canonical.
		if err != nil || base64.RawURLEncoding.EncodeToString(b) != part {
			return nil, nil, nil, false
		}
		parts[i] = b
	}
	return parts[0], parts[1], parts[2], true
}

// jwtLen is the length of the compact JWS joinJWT makes of parts of these
// decoded lengths.
func jwtLen(header, payload, sig int) int {
	enc := base64.RawURLEncoding
	return enc.EncodedLen(header) + 1 + enc.EncodedLen(payload) + 1 + enc.EncodedLen(sig)
}

// appendJWT appends the compact serialization of the decoded parts.
func appendJWT(dst, header, payload []byte, sig string) []byte {
	enc := base64.RawURLEncoding
	dst = enc.AppendEncode(dst, header)
	dst = append(dst, '.')
	dst = enc.AppendEncode(dst, payload)
	dst = append(dst, '.')
	return enc.AppendEncode(dst, []byte(sig))
}
