package authz

import (
	"regexp"
	"strings"
)

// foldCase is RE2's case-insensitive flag: Unicode simple case folding,
// a superset of the ASCII folding apps such as Express apply to paths, so
// a folded rule covers at least every spelling the app serves as one path.
const foldCase = "(?i)"

// foldedPrefix is a prefix rule matched without letter case. It is a
// regexp so that prefixes fold exactly as regex rules do (folding can
// change a path's length in bytes, which rules out slicing): the same
// segment boundary as an exact prefix, /admin covering /ADMIN and
// /Admin/x but not /administrators.
func foldedPrefix(prefix string) *regexp.Regexp {
	expr := foldCase + "^" + regexp.QuoteMeta(prefix)
	if !strings.HasSuffix(prefix, "/") {
		expr += "(?:/|$)"
	}
	return regexp.MustCompile(expr)
}
