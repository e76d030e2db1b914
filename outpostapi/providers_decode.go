package outpostapi

import (
	"encoding/json"
	"errors"
	"fmt"
)

// decodeProvidersPage decodes one page of GET /outposts/proxy/. A provider
// whose fields do not have the types this outpost knows (a newer core, or a
// broken one) must not stop the others: when the page as a whole does not
// decode for that reason, each provider is decoded on its own, and one
// that still fails is kept as a placeholder that validation leaves out,
// named. Only a page that is not JSON, or whose envelope is wrong, fails.
// The fast path is the plain decode, so a well-formed page costs no more.
func decodeProvidersPage(b []byte) (Paginated[ProxyOutpostConfig], error) {
	var p Paginated[ProxyOutpostConfig]
	err := json.Unmarshal(b, &p)
	var typeErr *json.UnmarshalTypeError
	if err == nil || !errors.As(err, &typeErr) {
		return p, err
	}
	var loose Paginated[json.RawMessage]
	if err := json.Unmarshal(b, &loose); err != nil {
		return Paginated[ProxyOutpostConfig]{}, err
	}
	p = Paginated[ProxyOutpostConfig]{Pagination: loose.Pagination, Autocomplete: loose.Autocomplete,
		Results: make([]ProxyOutpostConfig, 0, len(loose.Results))}
	first := max(loose.Pagination.StartIndex, 1) // 1-based, as the core counts
	for i, item := range loose.Results {
		var c ProxyOutpostConfig
		if err := json.Unmarshal(item, &c); err != nil {
			c = undecodableProvider(item, first+i, err)
		}
		p.Results = append(p.Results, c)
	}
	return p, nil
}

// undecodableProvider is the placeholder for a provider that did not
// decode: its name (when that at least is a string) and why.
func undecodableProvider(item json.RawMessage, index int, err error) ProxyOutpostConfig {
	var id struct {
		PK   any `json:"pk"`
		Name any `json:"name"`
	}
	_ = json.Unmarshal(item, &id) // a non-object leaves both unset
	name, _ := id.Name.(string)
	if name == "" {
		name = fmt.Sprintf("#%d", index)
	}
	pe := &ProviderError{Provider: name, Err: err.Error()}
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		pe.Field = typeErr.Field
		pe.Err = fmt.Sprintf("the core sent a JSON %s where this outpost expects %s; the provider is left out until the value has that type or the outpost is upgraded", typeErr.Value, typeErr.Type)
	case errors.As(err, &typeErr):
		pe.Err = fmt.Sprintf("the core sent a JSON %s where a provider object belongs", typeErr.Value)
	}
	if pe.Field == "" {
		pe.Field = "(provider)"
	}
	return ProxyOutpostConfig{Name: name, undecodable: pe}
}

// OpenStrings is a list of enum values that a newer core may extend
// (root config capabilities): every string is kept, known or not, and an
// item of another type is dropped rather than failing the whole object.
type OpenStrings []string

func (o *OpenStrings) UnmarshalJSON(b []byte) error {
	var items []any
	if err := json.Unmarshal(b, &items); err != nil {
		return err
	}
	out := make(OpenStrings, 0, len(items))
	for _, it := range items {
		if s, ok := it.(string); ok {
			out = append(out, s)
		}
	}
	*o = out
	return nil
}
