package outpostapi

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The lines of a standalone file that its errors name.

// ruleLine is the line of an authorization field such as
// "paths[1].regex" in provider i, or of its top-level key.
func ruleLine(root *yaml.Node, i int, field string) int {
	path := []any{"providers", i}
	for _, part := range strings.Split(field, ".") {
		name, idx, indexed := strings.Cut(part, "[")
		path = append(path, name)
		if indexed {
			if n, err := strconv.Atoi(strings.TrimSuffix(idx, "]")); err == nil {
				path = append(path, n)
			}
		}
	}
	for len(path) > 2 {
		if l := lineOf(root, path...); l > 0 {
			return l
		}
		path = path[:len(path)-1]
	}
	return lineOf(root, "providers", i)
}

// providerFieldLines maps, for each item of the top-level providers list, the
// field name to the line of its value; "" maps to the item's own line.
func providerFieldLines(root *yaml.Node) []map[string]int {
	list := mappingValue(root, "providers")
	if list == nil || list.Kind != yaml.SequenceNode {
		return nil
	}
	out := make([]map[string]int, len(list.Content))
	for i, item := range list.Content {
		m := map[string]int{"": item.Line}
		if item.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(item.Content); j += 2 {
				m[item.Content[j].Value] = item.Content[j+1].Line
			}
		}
		out[i] = m
	}
	return out
}

// lineOf is the line of the value at the given path of mapping keys
// (string) and sequence indexes (int), or 0.
func lineOf(root *yaml.Node, path ...any) int {
	n := root
	for _, step := range path {
		switch k := step.(type) {
		case string:
			n = mappingValue(n, k)
		case int:
			n = sequenceItem(n, k)
		}
		if n == nil {
			return 0
		}
	}
	return n.Line
}

func sequenceItem(n *yaml.Node, i int) *yaml.Node {
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n == nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
		return nil
	}
	return n.Content[i]
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
