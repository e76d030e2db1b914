package session

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"sync"
)

// flateTail ends every stream Go's flate writer closes: the length fields
// of the empty stored block it ends with. Records leave it out (four bytes
// of each) and inflate puts it back.
const flateTail = "\x00\x00\xff\xff"

var errFlateTail = errors.New("session: the flate stream does not end as expected")

// deflate appends body to out, compressed with dict (recordDict, or a
// provider's dictionary: recordDict and a sample, providerDict), without
// flateTail.
//
// The writers are made with recordDict only (each costs most of a
// megabyte, too much to keep per provider); a provider's sample is
// written first and flushed, which leaves the compressor's window as a
// writer made with the whole dictionary would have it, and what it wrote
// for the sample is dropped.
func deflate(out *bytes.Buffer, body, dict []byte) error {
	start := out.Len()
	zw := writerPool.Get().(*flate.Writer)
	zw.Reset(out)
	mark := start
	if sample := dict[len(recordDict):]; len(sample) > 0 {
		_, _ = zw.Write(sample) // writes to a bytes.Buffer do not fail
		_ = zw.Flush()          // ends on a byte boundary: what follows stands alone
		mark = out.Len()
	}
	_, _ = zw.Write(body)
	_ = zw.Close()
	writerPool.Put(zw)
	if !bytes.HasSuffix(out.Bytes()[mark:], []byte(flateTail)) {
		return errFlateTail // a Go release that ends streams otherwise: refuse rather than store what will not read back
	}
	out.Truncate(out.Len() - len(flateTail))
	if mark > start {
		b := out.Bytes()
		out.Truncate(start + copy(b[start:], b[mark:]))
	}
	return nil
}

// providerDict is recordDict followed by sample, a body of the provider's:
// what its sessions have in common that recordDict cannot know (its
// issuer, client id, groups, additional headers). DEFLATE's window is
// 32 KB, so the sample is kept well under.
func providerDict(sample []byte) []byte {
	if len(sample) == 0 || len(sample) > maxSample {
		return nil
	}
	d := make([]byte, 0, len(recordDict)+len(sample))
	return append(append(d, recordDict...), sample...)
}

const maxSample = 8 << 10

// inflate decompresses z, a stream deflate made with dict, into d.body:
// its first limit bytes. A body longer than maxBody is errBadRecord.
func (d *recordDecoder) inflate(z string, limit int, dict []byte) error {
	d.body.Reset()
	d.src = streamReader{s: z, tail: flateTail}
	zr := readerPool.Get().(io.ReadCloser)
	defer readerPool.Put(zr)
	if err := zr.(flate.Resetter).Reset(&d.src, dict); err != nil {
		return errBadRecord
	}
	d.limited = io.LimitedReader{R: zr, N: int64(min(limit, maxBody+1))}
	if _, err := d.body.ReadFrom(&d.limited); err != nil || d.body.Len() > maxBody {
		return errBadRecord
	}
	return nil
}

// streamReader reads s, then tail. It is a flate.Reader (a ByteReader),
// so the decompressor reads it without a buffer of its own.
type streamReader struct{ s, tail string }

func (r *streamReader) next() bool {
	if r.s == "" {
		r.s, r.tail = r.tail, ""
	}
	return r.s != ""
}

func (r *streamReader) Read(p []byte) (int, error) {
	if !r.next() {
		return 0, io.EOF
	}
	n := copy(p, r.s)
	r.s = r.s[n:]
	return n, nil
}

func (r *streamReader) ReadByte() (byte, error) {
	if !r.next() {
		return 0, io.EOF
	}
	c := r.s[0]
	r.s = r.s[1:]
	return c, nil
}

var (
	writerPool = sync.Pool{New: func() any {
		w, _ := flate.NewWriterDict(nil, flate.DefaultCompression, recordDict)
		return w
	}}
	readerPool = sync.Pool{New: func() any { return flate.NewReaderDict(nil, recordDict) }}
)
