package session

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// Records live in pages; deletes that leave a page mostly empty move its
// records to another page. Every session still stored comes back whole,
// also while lookups run during the moves, and the pages hold at most about
// twice what is stored. Once everything is deleted, no page is left.
func TestMemoryStorePagesCompact(t *testing.T) {
	m := NewMemoryStore(MemoryOptions{CacheSize: -1}) // every Get decodes its record
	defer m.Close()
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	const n = 3000
	// Every fifth session is saved twice, its first record left behind
	// in an older page.
	session := func(i int, version int) *Session {
		// Some tokens are bigger than a page's share, to get pages of their own.
		access := fmt.Sprintf("opaque-%d-v%d-%s", i, version, strings.Repeat("x", (i%7)*10))
		if i%500 == 0 {
			access += strings.Repeat(fmt.Sprint(i), pageOwnRecord)
		}
		return &Session{ID: fmt.Sprint("s", i), Provider: "p", Sub: fmt.Sprint("u", i%40), SID: fmt.Sprint("c", i),
			AccessToken: access, RefreshToken: fmt.Sprint("r", i), ExpiresAt: exp}
	}
	latest := func(i int) *Session {
		if i%5 == 0 {
			return session(i, 2)
		}
		return session(i, 1)
	}
	for i := range n {
		if err := m.Save(ctx, session(i, 1)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i += 5 {
		if err := m.Save(ctx, latest(i)); err != nil {
			t.Fatal(err)
		}
	}
	kept := func(i int) bool { return i%3 == 0 }
	check := func(i int) error {
		got, err := m.Get(ctx, fmt.Sprint("s", i))
		want := latest(i)
		switch {
		case err != nil:
			return err
		case got.ID != want.ID || got.AccessToken != want.AccessToken || got.RefreshToken != want.RefreshToken || got.SID != want.SID:
			return fmt.Errorf("session %d came back as %s %.20q", i, got.ID, got.AccessToken)
		}
		return nil
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 2 {
		wg.Go(func() {
			for k := g * 3; ; k = (k + 3) % n {
				select {
				case <-stop:
					return
				default:
				}
				if err := check(k); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for i := range n {
		if !kept(i) {
			if err := m.Delete(ctx, fmt.Sprint("s", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("lookup while pages were compacted: %v", err)
	}
	for i := range n {
		if kept(i) {
			if err := check(i); err != nil {
				t.Error(err)
			}
		}
	}
	m.mu.RLock()
	held, live := m.pages.bytes()
	m.mu.RUnlock()
	if held > 2*live+pageSize {
		t.Errorf("pages hold %d bytes for %d bytes of records", held, live)
	}
	if got, _ := m.DeleteBySub(ctx, "u3"); got != n/40/3+1 && got != n/40/3 {
		t.Errorf("DeleteBySub(u3) ended %d sessions", got)
	}
	for i := range n {
		_ = m.Delete(ctx, fmt.Sprint("s", i))
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if held, _ := m.pages.bytes(); held != 0 || len(m.pages.byAddr) != 0 {
		t.Errorf("with no session left, %d pages hold %d bytes", len(m.pages.byAddr), held)
	}
}
