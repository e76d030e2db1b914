package outpostapi

import (
	"fmt"
	"regexp"
	"slices"
	"testing"

	"github.com/outpost-dev/outpost/internal/reuse"
)

// One skip_path_regex value is compiled once per refresh however many
// providers share it, and again only after a refresh that did not use it.
func TestSkipPathCache(t *testing.T) {
	var sc reuse.Cache[string, []*regexp.Regexp]
	compile := func(s string) ([]*regexp.Regexp, error) { return sc.Get(s, compileSharedSkipPaths) }
	compiled := func(s string) string {
		t.Helper()
		res, err := compile(s)
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
	sc.Rotate()
	// The next refresh reuses what the last one used.
	if again := compiled("^/public/\n\n^/health$"); again != first {
		t.Errorf("not reused in the next refresh: %s, %s", first, again)
	}
	sc.Rotate()
	sc.Rotate()
	// Unused for a refresh: gone, so the cache holds only what is in use.
	if again := compiled("^/static/"); again == other {
		t.Error("a value no refresh used was kept")
	}
	// A failure is never kept (internal/reuse's test counts the builds).
	for range 2 {
		if _, err := compile("^(unclosed"); err == nil {
			t.Error("a bad expression compiled")
		}
	}
	// The result is CompileSkipPaths's, in a full slice: a provider that
	// appends to its own never writes into another's.
	res, _ := compile(" ^/a/ \n\n^/b/")
	if cap(res) != len(res) {
		t.Errorf("a shared result has room to append: len %d cap %d", len(res), cap(res))
	}
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
