package session

import (
	"encoding/base64"
	"strings"
)

// strictB64 refuses non-zero unused bits in the last character, so a part
// it decodes is canonical: encoding the bytes again gives the part back.
var strictB64 = base64.RawURLEncoding.Strict()

// splitJWT takes a compact JWS apart into its decoded header, payload and
// signature, but only when appendJWT gives back exactly t: three parts,
// each canonical unpadded base64url. Anything else (a JWE, padding, stray
// bits or line breaks, an opaque token) is not split and is kept as it is.
func splitJWT(t string) (header, payload, sig []byte, ok bool) {
	h, rest, ok1 := strings.Cut(t, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s, ".") {
		return nil, nil, nil, false
	}
	var parts [3][]byte
	for i, part := range [3]string{h, p, s} {
		// The decoder skips CR and LF; without them, and with strictB64,
		// encoding the bytes again gives back the part.
		if strings.ContainsAny(part, "\r\n") {
			return nil, nil, nil, false
		}
		b, err := strictB64.DecodeString(part)
		if err != nil {
			return nil, nil, nil, false
		}
		parts[i] = b
	}
	return parts[0], parts[1], parts[2], true
}

// appendJWT appends the compact serialization of the decoded parts.
func appendJWT(dst, header, payload, sig []byte) []byte {
	enc := base64.RawURLEncoding
	dst = append(enc.AppendEncode(dst, header), '.')
	dst = append(enc.AppendEncode(dst, payload), '.')
	return enc.AppendEncode(dst, sig)
}
