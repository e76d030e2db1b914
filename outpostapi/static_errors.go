package outpostapi

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// minimalStatic is what an empty file's error shows: the smallest file that
// starts an outpost.
const minimalStatic = `providers:
  - name: app
    external_host: https://app.example.com
    internal_host: http://127.0.0.1:8080
    issuer: https://id.example.com
    client_id: app
    client_secret_file: app.secret
    cookie_secret_file: cookie.secret`

// maxShapeProblems bounds how many mistakes one error lists: past that,
// the operator fixes the first ones and runs again.
const maxShapeProblems = 10

// explainDecodeError rewrites what the YAML decoder says about a standalone
// file into what an operator can act on: the line, the provider and the
// field, in the file's own words (never a Go type name), with a did-you-mean
// for misspelt fields.
func explainDecodeError(b []byte, err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("empty configuration: a minimal file looks like this (see docs/standalone.md):\n%s", minimalStatic)
	}
	var root yaml.Node
	if serr := yaml.Unmarshal(b, &root); serr != nil {
		return explainSyntaxError(b, serr)
	}
	var c shapeCheck
	c.value(&root, reflect.TypeFor[StaticFile](), "", "")
	if len(c.problems) > 0 {
		return errors.New(strings.Join(c.problems, "\n"))
	}
	// The walk above mirrors the decoder; should the two ever disagree,
	// the decoder's own words still lose their Go type names.
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			msgs[i] = goTypeName.ReplaceAllString(m, "")
		}
		return errors.New(strings.Join(msgs, "\n"))
	}
	return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
}

// goTypeName is the tail of the decoder's messages that names a Go type.
var goTypeName = regexp.MustCompile(` (?:into|in type) [\w.\[\]*]+$`)

var syntaxLine = regexp.MustCompile(`^yaml: line (\d+): `)

// explainSyntaxError names tabs, the most common cause of a file that is
// not YAML at all: YAML indents with spaces only.
func explainSyntaxError(b []byte, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	at := 0
	if m := syntaxLine.FindStringSubmatch(err.Error()); m != nil {
		at, _ = strconv.Atoi(m[1])
	}
	for i, l := range strings.Split(string(b), "\n") {
		// The parser may stop on the line before the tab.
		if at > 0 && i+1 > at+1 {
			break
		}
		indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		if strings.Contains(indent, "\t") {
			return fmt.Errorf("line %d: indented with a tab: YAML indents with spaces only", i+1)
		}
	}
	return errors.New(msg)
}

// shapeCheck walks a YAML document against the Go type it is decoded into
// and collects each mismatch as a message for the operator.
type shapeCheck struct{ problems []string }

func (c *shapeCheck) report(n *yaml.Node, where, field, format string, args ...any) {
	if len(c.problems) >= maxShapeProblems {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "line %d: ", n.Line)
	if where != "" {
		b.WriteString(where + ": ")
	}
	if field != "" {
		b.WriteString(field + ": ")
	}
	fmt.Fprintf(&b, format, args...)
	c.problems = append(c.problems, b.String())
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// value checks node n against type t. where names the provider (empty
// outside one), field the path of keys inside it.
func (c *shapeCheck) value(n *yaml.Node, t reflect.Type, where, field string) {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			c.report(n, where, field, "%s", goTypeName.ReplaceAllString(strings.TrimPrefix(err.Error(), "yaml: "), ""))
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			c.report(n, where, field, "want a mapping (name: value lines), got %s", describeNode(n))
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" {
				continue
			}
			ft, ok := fields[k.Value]
			if !ok {
				c.report(k, where, joinField(field, k.Value), "%s", unknownField(k.Value, fields))
				continue
			}
			c.value(v, ft, where, joinField(field, k.Value))
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			c.report(n, where, field, "want a list (one \"- \" line per item, or [a, b]), got %s", describeNode(n))
			return
		}
		for i, item := range n.Content {
			if t.Elem() == reflect.TypeFor[StaticProvider]() {
				c.value(item, t.Elem(), providerLabel(item, i), "")
				continue
			}
			c.value(item, t.Elem(), where, fmt.Sprintf("%s[%d]", field, i))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			c.report(n, where, field, "want a mapping (name: value lines), got %s", describeNode(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			c.value(n.Content[i+1], t.Elem(), where, joinField(field, n.Content[i].Value))
		}
	case reflect.Interface:
		// Anything goes (require_claims values); the rules check them.
	default:
		if n.Kind != yaml.ScalarNode {
			c.report(n, where, field, "%s, got %s", wantScalar(t, field), describeNode(n))
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			c.report(n, where, field, "%s, got %q", wantScalar(t, field), n.Value)
		}
	}
}

func joinField(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// providerLabel is how messages name a provider: by its name, else by its
// place in the list, as ProviderError does.
func providerLabel(item *yaml.Node, i int) string {
	if v := mappingValue(item, "name"); v != nil && v.Kind == yaml.ScalarNode && v.Value != "" {
		return fmt.Sprintf("provider %q", v.Value)
	}
	return fmt.Sprintf("provider %q", fmt.Sprintf("#%d", i+1))
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

// fieldWants says more than the type can for fields whose unit matters.
var fieldWants = map[string]string{
	"access_token_validity": "want a number of seconds, like 86400 for 24 hours",
	"max_auth_age":          "want a duration, like 10m or 1h",
}

func wantScalar(t reflect.Type, field string) string {
	if w, ok := fieldWants[field[strings.LastIndex(field, ".")+1:]]; ok {
		return w
	}
	switch t.Kind() {
	case reflect.Bool:
		return "want true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "want a whole number"
	case reflect.Float32, reflect.Float64:
		return "want a number"
	}
	return "want text"
}

// yamlFields maps each YAML key of struct t, inline structs included, to
// its type, as the decoder reads them.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") && f.Type.Kind() == reflect.Struct {
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// unknownField suggests the known field nearest to key, when one is near
// enough to be what was meant.
func unknownField(key string, fields map[string]reflect.Type) string {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "-", "_") }
	best, bestD := "", 0
	for name := range fields {
		d := editDistance(norm(key), name)
		if best == "" || d < bestD || d == bestD && name < best {
			best, bestD = name, d
		}
	}
	// A shortened name ("cert" for cert_file) is far in edits but plain.
	if k := norm(key); len(k) >= 3 {
		prefixed := ""
		for name := range fields {
			if strings.HasPrefix(name, k) && (prefixed == "" || name < prefixed) {
				prefixed = name
			}
		}
		if prefixed != "" && bestD > 1 {
			best, bestD = prefixed, 0
		}
	}
	if best != "" && bestD <= 2+len(key)/8 {
		return fmt.Sprintf("unknown field, did you mean %s?", best)
	}
	return "unknown field (docs/standalone.md lists the fields)"
}

// editDistance is the Levenshtein distance between a and b, in bytes:
// field names are ASCII.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
