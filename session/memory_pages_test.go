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
	m := NewMemoryStore(MemoryOptions{CacheSize: -1, MaxSessionsPerSubject: 3000}) // every Get decodes its record
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

// A provider's sessions are packed with its own dictionary, made of the
// first one's sample; it lasts while the provider has sessions, also
// through the replacement of its only session (a token refresh), and a
// record packed with a dictionary that went away meanwhile is packed anew.
func TestMemoryStoreProviderDictionary(t *testing.T) {
	m := NewMemoryStore(MemoryOptions{CacheSize: -1})
	defer m.Close()
	ctx := context.Background()
	now := time.Unix(1767225600, 0)
	m.opts.Now = func() time.Time { return now }
	s1 := recordSession(t)
	s1.ExpiresAt = now.Add(time.Hour)
	version := func(id string) byte {
		m.mu.RLock()
		defer m.mu.RUnlock()
		i, ok := m.lookupID(id)
		if !ok {
			t.Fatalf("%s is not stored", id)
		}
		return m.ents.at(i).rec[0]
	}
	dict := func() []byte {
		m.mu.RLock()
		defer m.mu.RUnlock()
		return m.providers.dictFor(s1.Provider)
	}
	get := func(want *Session) {
		t.Helper()
		got, err := m.Get(ctx, want.ID)
		if err != nil || got.AccessToken != want.AccessToken || got.IDToken != want.IDToken || got.Sub != want.Sub {
			t.Fatalf("Get(%s) = %v, %v", want.ID, got, err)
		}
	}
	if err := m.Save(ctx, s1); err != nil {
		t.Fatal(err)
	}
	d1 := dict()
	if version(s1.ID) != recordVersion || d1 == nil {
		t.Fatalf("the provider's first session: record version %d, dictionary of %d bytes", version(s1.ID), len(d1))
	}
	refreshed := *s1
	refreshed.AccessToken = jwtOf(t, map[string]any{"sub": s1.Sub, "v": 2})
	if err := m.Save(ctx, &refreshed); err != nil {
		t.Fatal(err)
	}
	if version(s1.ID) != recordVersionProvider || &dict()[0] != &d1[0] {
		t.Fatalf("after replacing the only session: record version %d, same dictionary %v", version(s1.ID), &dict()[0] == &d1[0])
	}
	get(&refreshed)
	sub, sid, err := recordKeys(func() string { m.mu.RLock(); defer m.mu.RUnlock(); i, _ := m.lookupID(s1.ID); return m.ents.at(i).rec }(), d1)
	if err != nil || sub != s1.Sub || sid != s1.SID {
		t.Fatalf("recordKeys with the provider's dictionary = %q, %q, %v", sub, sid, err)
	}

	// A Save that packed s2 with d1, finishing after the provider's last
	// session ended and another began with a dictionary of its own.
	s2 := *s1
	s2.ID = NewID()
	rec, _, err := encodeRecordFor(&s2, d1)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := m.DeleteBySub(ctx, s1.Sub); n != 1 || dict() != nil {
		t.Fatalf("DeleteBySub ended %d; the provider's dictionary is left: %v", n, dict() != nil)
	}
	// Someone else: another sample, another dictionary.
	s3 := *s1
	s3.ID, s3.Sub, s3.SID = NewID(), "someone-else", "core-session-2"
	s3.Claims = map[string]any{"sub": s3.Sub, "name": "Someone Else", "groups": []any{"finance"}, "iss": "https://other.example/"}
	s3.AccessToken, s3.IDToken = jwtOf(t, s3.Claims), jwtOf(t, map[string]any{"sub": s3.Sub, "aud": "x"})
	if err := m.Save(ctx, &s3); err != nil {
		t.Fatal(err)
	}
	if d := dict(); d == nil || &d[0] == &d1[0] {
		t.Fatal("the provider's new first session did not get a dictionary of its own")
	}
	if _, err := m.insert(&s2, rec, nil, d1, false); err != nil {
		t.Fatal(err)
	}
	get(&s2)
	get(&s3)
	for _, sid := range []string{s2.SID, s3.SID} {
		if n, _ := m.DeleteBySIDFor(ctx, s1.Provider, sid); n != 1 {
			t.Errorf("DeleteBySIDFor(%s) ended %d sessions, want 1", sid, n)
		}
	}
}
