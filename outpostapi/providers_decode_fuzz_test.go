package outpostapi

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeProvidersPage: whatever a core sends, a page either fails as a
// whole (not JSON, or a broken envelope) or yields one entry per provider
// sent, each either decoded or a placeholder that names itself and a field.
func FuzzDecodeProvidersPage(f *testing.F) {
	f.Add([]byte(`{"pagination":{"next":0},"results":[{"pk":1,"name":"a","mode":"proxy"}]}`))
	f.Add([]byte(`{"pagination":{"start_index":3},"results":[{"name":"a","internal_host_ssl_validation":"yes"},"x",null,{"name":7}]}`))
	f.Add([]byte(`{"pagination":{"next":"2"},"results":[]}`))
	f.Add([]byte(`{"results":[{"oidc_configuration":{"issuer":{}}},{"scopes_to_request":"openid"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodeProvidersPage(b)
		if err != nil {
			return
		}
		var raw struct {
			Results []json.RawMessage `json:"results"`
		}
		if json.Unmarshal(b, &raw) != nil {
			t.Fatalf("page decoded, but its results are not a list: %q", b)
		}
		if len(p.Results) != len(raw.Results) {
			t.Fatalf("%d providers sent, %d decoded: %q", len(raw.Results), len(p.Results), b)
		}
		for i, c := range p.Results {
			if e := c.undecodable; e != nil && (e.Provider == "" || e.Field == "" || e.Err == "") {
				t.Fatalf("provider %d: placeholder without a name, field or reason: %+v", i, e)
			}
			if c.undecodable == nil {
				var plain ProxyOutpostConfig
				if err := json.Unmarshal(raw.Results[i], &plain); err != nil {
					t.Fatalf("provider %d kept although it does not decode (%v): %q", i, err, raw.Results[i])
				}
			}
		}
	})
}
