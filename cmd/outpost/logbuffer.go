package main

import (
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// logBuffer takes log lines off the request path. Every request writes an
// access line; written straight to stderr, under the one lock that keeps
// lines whole, a request whose line met a slow pipe or a busy disk waited
// for it before its response was flushed (issue 25 measured 5 % of
// requests blocked 3–5 ms). Here a Write only appends to memory under a
// lock held for the copy; one goroutine writes the lines out every
// flushEvery, or as soon as flushBytes are waiting. When the output cannot
// keep up and maxBuffered bytes are waiting, new lines are dropped and
// counted, never waited for. Lines written before a crash that the
// goroutine had not written out yet (at most flushEvery's worth) are lost;
// Close writes out everything, and the process calls it on every way out.
type logBuffer struct {
	out io.Writer

	mu      sync.Mutex
	pending []byte
	closed  bool

	kick    chan struct{} // a flush is wanted now
	done    chan struct{} // the writer goroutine has stopped
	stop    chan struct{}
	dropped atomic.Uint64
	once    sync.Once
}

const (
	logFlushEvery  = 10 * time.Millisecond
	logFlushBytes  = 64 << 10
	logMaxBuffered = 4 << 20
)

func newLogBuffer(out io.Writer) *logBuffer {
	b := &logBuffer{out: out, kick: make(chan struct{}, 1), done: make(chan struct{}), stop: make(chan struct{}),
		pending: make([]byte, 0, logFlushBytes)}
	go b.run()
	return b
}

// Write keeps one whole line (each slog handler writes a line in one call).
func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	if b.closed {
		// After Close (a goroutine still logging on the way out): write
		// through, so nothing is lost.
		b.mu.Unlock()
		return b.out.Write(p)
	}
	if len(b.pending)+len(p) > logMaxBuffered {
		b.mu.Unlock()
		b.dropped.Add(1)
		return len(p), nil
	}
	b.pending = append(b.pending, p...)
	full := len(b.pending) >= logFlushBytes
	b.mu.Unlock()
	if full {
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// Dropped counts lines dropped because the output could not keep up.
func (b *logBuffer) Dropped() uint64 { return b.dropped.Load() }

func (b *logBuffer) run() {
	defer close(b.done)
	tick := time.NewTicker(logFlushEvery)
	defer tick.Stop()
	spare := make([]byte, 0, logFlushBytes)
	for {
		select {
		case <-tick.C:
		case <-b.kick:
		case <-b.stop:
			b.flush(spare)
			return
		}
		spare = b.flush(spare)
	}
}

// flush swaps the pending lines for the spare buffer and writes them out
// with no lock held, so writers never wait for the output. It returns the
// buffer to use as the next spare.
func (b *logBuffer) flush(spare []byte) []byte {
	b.mu.Lock()
	lines := b.pending
	b.pending = spare[:0]
	b.mu.Unlock()
	if len(lines) > 0 {
		_, _ = b.out.Write(lines) // stderr failing has nowhere to be reported
	}
	if cap(lines) > 4*logFlushBytes {
		// A burst grew it: do not keep megabytes for the quiet times.
		return make([]byte, 0, logFlushBytes)
	}
	return lines[:0]
}

// Close writes out every line buffered so far; later lines are written
// through. Safe to call more than once.
func (b *logBuffer) Close() error {
	b.once.Do(func() {
		close(b.stop)
		<-b.done
		b.mu.Lock()
		b.closed = true
		rest := b.pending
		b.pending = nil
		b.mu.Unlock()
		if len(rest) > 0 {
			_, _ = b.out.Write(rest)
		}
	})
	return nil
}
