package session

import (
	"compress/flate"
	"io"
	"slices"
	"strings"
	"sync"
)

// recordDict is the DEFLATE preset dictionary of record bodies: what the
// sessions of authentik (and of most OpenID providers) have in common, the
// JWT headers and the claim names, in the order encoding/json writes them,
// so that each body stores mostly what is its own. Records outlive the
// process in Redis: a record is read with the dictionary it was written
// with, so changing this text needs a new recordVersion.
var recordDict = []byte(`{"alg":"ES256","kid":"","typ":"JWT"}{"alg":"HS256","typ":"JWT"}{"alg":"RS256","kid":"","typ":"JWT"}` +
	`{"acr":"goauthentik.io/providers/oauth2/default","ak_proxy":{"is_superuser":false,"user_attributes":{"additionalHeaders":{}}},` +
	`"amr":["pwd"],"at_hash":"","aud":"","auth_time":17,"azp":"","email":"@example.com","email_verified":false,` +
	`"entitlements":[],"exp":17,"family_name":"","given_name":"","groups":[],"iat":17,` +
	`"iss":"https://authentik./application/o//","jti":"","locale":"en","name":"","nickname":"","nonce":"",` +
	`"preferred_username":"","roles":[],"scope":"openid email profile entitlements ak_proxy offline_access",` +
	`"sid":"","sub":"","uid":""}`)

// appendWriter appends what is written to b.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// deflateBody appends body, compressed with recordDict, to dst.
func deflateBody(dst, body []byte) []byte {
	out := &appendWriter{b: dst}
	zw := writerPool.Get().(*flate.Writer)
	zw.Reset(out)
	_, _ = zw.Write(body) // an appendWriter does not fail
	_ = zw.Close()
	writerPool.Put(zw)
	return out.b
}

// inflateBody decompresses z, made by deflateBody of a body of n bytes,
// into dst (from its length on); a stream that holds more or less is
// errBadRecord.
func inflateBody(dst []byte, z string, n int) ([]byte, error) {
	zr := readerPool.Get().(io.ReadCloser)
	defer readerPool.Put(zr)
	if err := zr.(flate.Resetter).Reset(strings.NewReader(z), recordDict); err != nil {
		return nil, errBadRecord
	}
	body := slices.Grow(dst, n+1)[:len(dst)+n+1]
	if _, err := io.ReadFull(zr, body[len(dst):len(dst)+n]); err != nil {
		return nil, errBadRecord
	}
	// The stream must end there.
	if k, err := zr.Read(body[len(dst)+n:]); k != 0 || err != io.EOF {
		return nil, errBadRecord
	}
	return body[:len(dst)+n], nil
}

// A compressor costs most of a megabyte: they are reused.
var (
	writerPool = sync.Pool{New: func() any {
		w, _ := flate.NewWriterDict(nil, flate.DefaultCompression, recordDict)
		return w
	}}
	readerPool = sync.Pool{New: func() any { return flate.NewReaderDict(nil, recordDict) }}
)
