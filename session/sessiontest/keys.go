package sessiontest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/session"
)

// KeyFactory makes the KeyStore of one replica. Stores made by one call of
// RunKeys's factory share their data (one Redis, one database), as
// replicas do; the suite closes what the factory's t.Cleanup closes.
type KeyFactory func(t *testing.T) session.KeyStore

// RunKeys is the suite of session.KeyStore: two replicas made by
// newReplica share one backing store.
func RunKeys(t *testing.T, newReplica KeyFactory) {
	ctx := context.Background()
	// Names are unique per run: replicas of a real server share data
	// between subtests.
	run := time.Now().UnixNano()
	name := func(s string) string { return fmt.Sprintf("test/%d/%s", run, s) }

	t.Run("MissingIsNotFound", func(t *testing.T) {
		ks := newReplica(t)
		if _, err := ks.Key(ctx, name("missing")); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("Key(missing) = %v, want ErrNotFound", err)
		}
	})

	t.Run("FirstWriterWins", func(t *testing.T) {
		a, b := newReplica(t), newReplica(t)
		exp := time.Now().Add(time.Hour)
		got, err := a.AddKey(ctx, name("k1"), []byte("from-a"), exp)
		if err != nil || string(got) != "from-a" {
			t.Fatalf("first AddKey = %q, %v; want from-a", got, err)
		}
		got, err = b.AddKey(ctx, name("k1"), []byte("from-b"), exp)
		if err != nil || string(got) != "from-a" {
			t.Errorf("second AddKey on the other replica = %q, %v; want the first writer's from-a", got, err)
		}
		got, err = b.Key(ctx, name("k1"))
		if err != nil || string(got) != "from-a" {
			t.Errorf("Key on the other replica = %q, %v; want from-a", got, err)
		}
	})

	t.Run("ConcurrentWritersConverge", func(t *testing.T) {
		const n = 8
		replicas := make([]session.KeyStore, n)
		for i := range replicas {
			replicas[i] = newReplica(t)
		}
		got := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, err := replicas[i].AddKey(ctx, name("race"), []byte(fmt.Sprintf("v%d", i)), time.Now().Add(time.Hour))
				if err != nil {
					t.Errorf("replica %d: %v", i, err)
				}
				got[i] = string(v)
			}()
		}
		wg.Wait()
		for i := range got {
			if got[i] != got[0] || got[0] == "" {
				t.Fatalf("replicas disagree on the key: %q", got)
			}
		}
	})

	t.Run("Expires", func(t *testing.T) {
		ks := newReplica(t)
		if _, err := ks.AddKey(ctx, name("short"), []byte("v"), time.Now().Add(1500*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, err := ks.Key(ctx, name("short"))
			if errors.Is(err, session.ErrNotFound) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if time.Now().After(deadline) {
				t.Fatal("the key is still served long after it expired")
			}
			time.Sleep(100 * time.Millisecond)
		}
		// An expired name can be written again.
		got, err := ks.AddKey(ctx, name("short"), []byte("again"), time.Now().Add(time.Hour))
		if err != nil || string(got) != "again" {
			t.Errorf("AddKey after expiry = %q, %v; want again", got, err)
		}
	})

	t.Run("ValueIsACopy", func(t *testing.T) {
		ks := newReplica(t)
		v := []byte("value")
		if _, err := ks.AddKey(ctx, name("copy"), v, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		v[0] = 'X'
		got, err := ks.Key(ctx, name("copy"))
		if err != nil || string(got) != "value" {
			t.Errorf("Key = %q, %v; the caller's change reached the store", got, err)
		}
	})
}
