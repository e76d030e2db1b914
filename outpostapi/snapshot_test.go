package outpostapi

import (
	"fmt"
	"slices"
	"testing"
)

// One skip_path_regex value is compiled once per refresh however many
// providers share it, and again only after a refresh that did not use it.
func TestSkipPathCache(t *testing.T) {
	var sc skipPathCache
	compiled := func(s string) string {
		t.Helper()
		res, err := sc.compile(s)
		if err != nil {
			t.Fatal(err)
		}
		if len(res) == 0 {
			return ""
		}
		return res[0].String() + "@" + ptr(res)
	}
	first := compiled("^/public/\n\n^/health$")
	if again := compiled("^/public/\n\n^/health$"); again != first {
		t.Errorf("compiled twice in one refresh: %s, %s", first, again)
	}
	other := compiled("^/static/")
	sc.rotate()
	// The next refresh reuses what the last one used.
	if again := compiled("^/public/\n\n^/health$"); again != first {
		t.Errorf("not reused in the next refresh: %s, %s", first, again)
	}
	sc.rotate()
	sc.rotate()
	// Unused for a refresh: gone, so the cache holds only what is in use.
	if again := compiled("^/static/"); again == other {
		t.Error("a value no refresh used was kept")
	}
	if _, err := sc.compile("^(unclosed"); err == nil {
		t.Error("a bad expression compiled")
	}
	if _, ok := sc.cur["^(unclosed"]; ok {
		t.Error("a failure was cached")
	}
	// The result is CompileSkipPaths's.
	res, _ := sc.compile(" ^/a/ \n\n^/b/")
	want, _ := CompileSkipPaths(" ^/a/ \n\n^/b/")
	var gotS, wantS []string
	for _, re := range res {
		gotS = append(gotS, re.String())
	}
	for _, re := range want {
		wantS = append(wantS, re.String())
	}
	if !slices.Equal(gotS, wantS) {
		t.Errorf("compiled %v, want %v", gotS, wantS)
	}
}

func ptr[T any](s []T) string {
	if len(s) == 0 {
		return "nil"
	}
	return fmt.Sprintf("%p", &s[0])
}
