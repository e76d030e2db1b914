package main

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingWriter is the process's stderr as a test sees it; gate, when
// set, holds every Write until it is closed (a pipe nobody reads).
type recordingWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	gate chan struct{}
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	if w.gate != nil {
		<-w.gate
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *recordingWriter) lines() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Split(strings.TrimSuffix(w.buf.String(), "\n"), "\n")
}

func (w *recordingWriter) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Len()
}

// writeLines writes n lines from each of writers goroutines: "g<i> <k>".
func writeLines(b *logBuffer, writers, n int) {
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for k := range n {
				fmt.Fprintf(b, "g%d %06d %s\n", g, k, strings.Repeat("x", 200))
			}
		})
	}
	wg.Wait()
}

// checkLines asserts every line is whole and each writer's lines are in
// the order written; it returns how many lines there were.
func checkLines(t *testing.T, lines []string) int {
	t.Helper()
	next := map[string]int{}
	n := 0
	for _, l := range lines {
		if l == "" {
			continue
		}
		var g string
		var k int
		var rest string
		if _, err := fmt.Sscanf(l, "%s %d %s", &g, &k, &rest); err != nil || len(rest) != 200 {
			t.Fatalf("line torn or mixed: %q", l)
		}
		if k < next[g] {
			t.Fatalf("%s: line %d after %d", g, k, next[g])
		}
		next[g] = k + 1
		n++
	}
	return n
}

func TestLogBufferWritesLinesWholeAndInOrderWithoutClose(t *testing.T) {
	out := &recordingWriter{}
	b := newLogBuffer(out)
	defer b.Close()
	writeLines(b, 4, 2000)
	// The writer goroutine writes them out on its own, within its tick.
	deadline := time.Now().Add(10 * time.Second)
	for out.len() < 4*2000*(len("g0 000000 ")+201) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d bytes written out without Close", out.len())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := checkLines(t, out.lines()); n != 8000 {
		t.Errorf("%d lines written out, want 8000", n)
	}
	if b.Dropped() != 0 {
		t.Errorf("%d lines dropped with an output that keeps up", b.Dropped())
	}
}

func TestLogBufferNeverMakesAWriterWaitForAStuckOutput(t *testing.T) {
	out := &recordingWriter{gate: make(chan struct{})}
	b := newLogBuffer(out)
	// 8 × 4000 lines of ~211 bytes is 6.7 MB, more than logMaxBuffered:
	// with the output stuck, the writers must all return, and the excess
	// is dropped and counted. Were a Write to wait for the output, this
	// would hang until the test's timeout.
	writeLines(b, 8, 4000)
	dropped := b.Dropped()
	if dropped == 0 {
		t.Fatal("no line dropped although the output never took one")
	}
	close(out.gate)
	b.Close()
	n := checkLines(t, out.lines())
	if uint64(n)+dropped != 32000 {
		t.Errorf("%d lines written out + %d dropped = %d, want 32000", n, dropped, uint64(n)+dropped)
	}
}

func TestLogBufferCloseWritesEverythingAndThenWritesThrough(t *testing.T) {
	out := &recordingWriter{}
	b := newLogBuffer(out)
	writeLines(b, 2, 500)
	b.Close()
	if n := checkLines(t, out.lines()); n != 1000 {
		t.Fatalf("%d lines after Close, want 1000", n)
	}
	fmt.Fprintf(b, "g9 000000 %s\n", strings.Repeat("x", 200))
	if n := checkLines(t, out.lines()); n != 1001 {
		t.Errorf("a line written after Close is not out at once (%d lines)", n)
	}
	b.Close() // twice is fine
}
