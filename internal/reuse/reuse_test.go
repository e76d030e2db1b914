package reuse

import (
	"errors"
	"testing"
)

// A key is built once per round however often it is asked for, reused by
// the next round, and built again only after a round that did not use it;
// a failure is never kept.
func TestCache(t *testing.T) {
	var c Cache[string, *int]
	builds := map[string]int{}
	build := func(k string) (*int, error) {
		builds[k]++
		if k == "bad" {
			return nil, errors.New("cannot build")
		}
		n := builds[k]
		return &n, nil
	}
	get := func(k string) *int {
		t.Helper()
		v, err := c.Get(k, build)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	first := get("a")
	if again := get("a"); again != first {
		t.Error("built twice in one round")
	}
	other := get("b")
	c.Rotate()
	if again := get("a"); again != first {
		t.Error("not reused in the next round")
	}
	c.Rotate()
	c.Rotate()
	if again := get("b"); again == other || builds["b"] != 2 {
		t.Errorf("a value no round used was kept (%d builds)", builds["b"])
	}
	for range 2 {
		if _, err := c.Get("bad", build); err == nil {
			t.Error("a failed build returned no error")
		}
	}
	if builds["bad"] != 2 {
		t.Errorf("a failure was kept: %d builds for two gets", builds["bad"])
	}
}
