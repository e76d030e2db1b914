package outpostapi

import (
	"encoding/json"
	"testing"
)

// The HELLO must satisfy both generations of core: a 2026.2 core stores
// seven keys into the instance state (spec §2.2), and a 2026.8+ core,
// built for the Rust outpost's smaller HELLO, reads version, buildHash,
// uuid and hostname (each with a default). Sending the union keeps the
// admin UI's version, build and "outdated" check working on both.
func TestHelloCarriesWhatEitherCoreReads(t *testing.T) {
	b, err := json.Marshal(WebsocketMessage{Instruction: InstructionHello, Args: helloArgs("2026.2.2", "deadbeef", "7d5a1c7e-1111-4222-8333-944445555666")})
	if err != nil {
		t.Fatal(err)
	}
	var frame struct {
		Instruction int                        `json:"instruction"`
		Args        map[string]json.RawMessage `json:"args"`
	}
	if err := json.Unmarshal(b, &frame); err != nil || frame.Instruction != InstructionHello {
		t.Fatalf("HELLO frame = %s (%v)", b, err)
	}
	// JSON kind of each key, as the core's reader expects it.
	shapes := []struct {
		name string
		keys map[string]string
	}{
		{"what a 2026.2 core stores", map[string]string{
			"version": "string", "buildHash": "string", "golangVersion": "string", "opensslEnabled": "bool",
			"opensslVersion": "string", "fipsEnabled": "bool", "hostname": "string",
		}},
		{"what a 2026.8+ core reads from the Rust outpost", map[string]string{
			"version": "string", "buildHash": "string", "uuid": "string", "hostname": "string",
		}},
	}
	for _, shape := range shapes {
		t.Run(shape.name, func(t *testing.T) {
			for key, kind := range shape.keys {
				v, ok := frame.Args[key]
				if !ok {
					t.Errorf("HELLO lacks %q: %s", key, b)
					continue
				}
				if got := jsonKind(v); got != kind {
					t.Errorf("HELLO %s = %s, a %s; want a %s", key, v, got, kind)
				}
			}
		})
	}
	if v := string(frame.Args["version"]); v != `"2026.2.2"` {
		t.Errorf("version = %s: the core compares it as a PEP 440 version", v)
	}
}

func jsonKind(v json.RawMessage) string {
	var x any
	if json.Unmarshal(v, &x) != nil {
		return "invalid"
	}
	switch x.(type) {
	case string:
		return "string"
	case bool:
		return "bool"
	case float64:
		return "number"
	case nil:
		return "null"
	default:
		return "composite"
	}
}
