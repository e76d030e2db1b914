package devcore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// parseWSMessage checks that b is one JSON object with an integer
// "instruction" and an object "args" (spec §2.2), the shape authentik's
// dataclass parser accepts; anything else is an error, never a panic. Keys
// match exactly (encoding/json's case-insensitive matching would accept
// what the core refuses). Numbers inside args are kept as json.Number so
// they are shown as sent.
func parseWSMessage(b []byte) (int, map[string]any, error) {
	var top map[string]json.RawMessage
	if err := wsDecodeOne(b, &top); err != nil {
		return 0, nil, err
	}
	if top == nil {
		return 0, nil, errors.New("not a JSON object")
	}
	rawIns, ok := top["instruction"]
	if !ok {
		return 0, nil, errors.New(`no "instruction"`)
	}
	// ParseInt refuses what is not a plain integer literal: strings, 1.0,
	// 1e0, null, true.
	ins, err := strconv.ParseInt(string(rawIns), 10, 32)
	if err != nil {
		return 0, nil, fmt.Errorf(`"instruction" is not an integer: %.40s`, rawIns)
	}
	rawArgs, ok := top["args"]
	if !ok {
		return 0, nil, errors.New(`no "args"`)
	}
	var args map[string]any
	if err := wsDecodeOne(rawArgs, &args); err != nil || args == nil {
		return 0, nil, fmt.Errorf(`"args" is not an object: %.40s`, rawArgs)
	}
	return int(ins), args, nil
}

// wsDecodeOne decodes exactly one JSON value from b into v.
func wsDecodeOne(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	return nil
}
