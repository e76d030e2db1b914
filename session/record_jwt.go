package session

import (
	"bytes"
	"encoding/base64"
)

// splitJWT takes a compact JWS apart into its decoded header, payload and
// signature, appended to dst, but only when appendJWT gives back exactly t:
// three parts, each canonical unpadded base64url. Anything else (a JWE,
// padding, stray bits or line breaks, an opaque token) is not split and is
// kept as it is. The parts are slices of out.
func splitJWT(dst, t []byte) (out []byte, parts [3][]byte, ok bool) {
	h, rest, ok1 := bytes.Cut(t, []byte("."))
	p, s, ok2 := bytes.Cut(rest, []byte("."))
	if !ok1 || !ok2 || bytes.IndexByte(s, '.') >= 0 {
		return dst, parts, false
	}
	start := len(dst)
	var ends [3]int
	for i, part := range [3][]byte{h, p, s} {
		// The decoder skips CR and LF; strictB64 refuses the unused bits
		// of the last character set. Without either, re-encoding the bytes
		// gives back the part.
		var err error
		if bytes.ContainsAny(part, "\r\n") {
			return dst[:start], parts, false
		}
		if dst, err = strictB64.AppendDecode(dst, part); err != nil {
			return dst[:start], parts, false
		}
		ends[i] = len(dst)
	}
	from := start
	for i, end := range ends {
		parts[i] = dst[from:end]
		from = end
	}
	return dst, parts, true
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
