package devcore

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// checkSkipPathRegex stores providers[i].skip_path_regex as authentik's core
// stores the field: trimmed of surrounding white space (its API trims every
// string), so YAML's `|`, which ends the value with a newline, serves
// "^/public/" and not "^/public/\n". Outposts split the value on "\n" and
// compile every line; authentik's own compiles an empty line into an
// expression that matches every path, so a blank line left in the value
// would make the application public. Such a value is refused here rather
// than served: one expression a line, each one compiling. Lines are
// numbered as written; label names the field in errors.
func (c *Config) checkSkipPathRegex(i int, label string) error {
	raw := c.Providers[i].SkipPathRegex
	path := []any{"providers", i, "skip_path_regex"}
	// lineErr names the YAML line of line n of the value where it is
	// known: a literal block (`|`) holds one line of the value a line.
	lineErr := func(n int, format string, args ...any) error {
		line := yamlLine(c.src, path...)
		if node := yamlNode(c.src, path...); node != nil && node.Kind == yaml.ScalarNode && node.Value == raw && node.Style&yaml.LiteralStyle != 0 {
			line = node.Line + n
		}
		return &ConfigError{Line: line, Field: label, Msg: fmt.Sprintf("line %d of the value ", n) + fmt.Sprintf(format, args...)}
	}
	v := strings.TrimSpace(raw)
	if v == "" {
		if raw != "" {
			return c.fieldErr(label, path, "is only white space; leave it out (or set \"\") for no public paths")
		}
		return nil
	}
	first := strings.Count(raw[:len(raw)-len(strings.TrimLeftFunc(raw, unicode.IsSpace))], "\n") + 1
	for j, expr := range strings.Split(v, "\n") {
		n := first + j
		switch trimmed := strings.TrimSpace(expr); {
		case trimmed == "":
			return lineErr(n, "is empty: authentik's outpost compiles an empty line into an expression that matches every path, which makes the application public; write one expression a line, no blank lines")
		case trimmed != expr:
			return lineErr(n, "has white space around the expression; outposts disagree on it (authentik's keeps it in the expression, this project's drops it), so write the expression alone")
		}
		if _, err := regexp.Compile(expr); err != nil {
			return lineErr(n, "does not compile: %v", err)
		}
	}
	c.Providers[i].SkipPathRegex = v
	return nil
}
