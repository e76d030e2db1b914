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

// deflate appends body to out, compressed with recordDict, without flateTail.
func deflate(out *bytes.Buffer, body []byte) error {
	start := out.Len()
	zw := writerPool.Get().(*flate.Writer)
	zw.Reset(out)
	_, _ = zw.Write(body) // writes to a bytes.Buffer do not fail
	_ = zw.Close()
	writerPool.Put(zw)
	if !bytes.HasSuffix(out.Bytes()[start:], []byte(flateTail)) {
		return errFlateTail // a Go release that ends streams otherwise: refuse rather than store what will not read back
	}
	out.Truncate(out.Len() - len(flateTail))
	return nil
}

// inflate decompresses z, a stream deflate made, into d.body: its first
// limit bytes. A body longer than maxBody is errBadRecord.
func (d *recordDecoder) inflate(z string, limit int) error {
	d.body.Reset()
	d.src = streamReader{s: z, tail: flateTail}
	zr := readerPool.Get().(io.ReadCloser)
	defer readerPool.Put(zr)
	if err := zr.(flate.Resetter).Reset(&d.src, recordDict); err != nil {
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
