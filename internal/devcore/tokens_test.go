package devcore

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestUserAttributesMerge(t *testing.T) {
	cfg := &Config{Groups: []GroupConfig{
		{Name: "b", Attributes: map[string]any{"k": "from-b", "list": []any{"b"}, "obj": map[string]any{"x": 1, "y": "b"}}},
		{Name: "a", Attributes: map[string]any{"k": "from-a", "list": []any{"a"}, "obj": map[string]any{"y": "a", "z": 3},
			"odd": map[any]any{1: "one", "two": map[any]any{true: "yes"}}}},
	}}
	u := &UserConfig{Username: "u", Groups: []string{"b", "a", "missing", "b"},
		Attributes: map[string]any{"k": "from-user", "obj": map[string]any{"x": "user"}, "list": []any{"u"}}}
	got := userAttributes(cfg, u)
	want := map[string]any{
		"k": "from-user", "list": []any{"a", "b", "u"},
		"obj": map[string]any{"x": "user", "y": "b", "z": 3},
		"odd": map[string]any{"1": "one", "two": map[string]any{"true": "yes"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
	if _, err := json.Marshal(got); err != nil {
		t.Errorf("not JSON-encodable: %v", err)
	}
	// The configuration was not touched.
	if l := cfg.Groups[1].Attributes["list"].([]any); len(l) != 1 {
		t.Errorf("group attributes mutated: %v", l)
	}
	got["obj"].(map[string]any)["x"] = "changed"
	if u.Attributes["obj"].(map[string]any)["x"] != "user" {
		t.Error("result shares maps with the configuration")
	}
	if g := userGroups(u); !reflect.DeepEqual(g, []string{"b", "a", "missing"}) {
		t.Errorf("groups %v", g)
	}
}

func TestSignHS256(t *testing.T) {
	if _, err := signHS256(strings.Repeat("x", 31), map[string]any{"a": 1}); err != errShortSecret {
		t.Errorf("short secret: %v", err)
	}
	tok, err := signHS256(appSecret, map[string]any{"sub": "s", "exp": time.Now().Unix()})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := verifyHS256(appSecret, tok); err != nil || c["sub"] != "s" {
		t.Errorf("round trip: %v %v", c, err)
	}
	if _, err := verifyHS256(otherSecret, tok); err == nil {
		t.Error("verified with the wrong secret")
	}
	if _, err := verifyHS256(appSecret, tok[:len(tok)-2]+"AA"); err == nil {
		t.Error("verified a tampered signature")
	}
}

func TestAccessTokenValidityDefault(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    *float64
		want time.Duration
	}{
		{"unset", nil, 86400 * time.Second},
		{"zero", ptr(0.0), 86400 * time.Second},
		{"negative", ptr(-5.0), 86400 * time.Second},
		{"fractional", ptr(90.9), 90 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := accessTokenValidity(&ProviderConfig{AccessTokenValidity: tc.v}); got != tc.want {
				t.Errorf("%v: %v", tc.v, got)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
