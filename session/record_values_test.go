package session

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/outpost-dev/outpost/internal/sessionshape"
)

// extract takes the values out of fields, sharing one table as a record
// does, and returns each field's text with its markers spelled out (<hex
// 0>, <uuid 1>, <b64 2>, <exp>) and the table's raw values in hex.
func extract(t *testing.T, fields ...string) (texts, vals []string) {
	t.Helper()
	return extractExp(t, "", fields...)
}

// extractExp is extract for a record whose TokenExpiry is exp in decimal.
func extractExp(t *testing.T, exp string, fields ...string) (texts, vals []string) {
	t.Helper()
	tbl := valueTable{exp: []byte(exp)}
	for _, f := range fields {
		if hasMarker([]byte(f)) {
			t.Fatalf("field %q holds a marker", f)
		}
		text := tbl.appendExtracted(nil, []byte(f))
		var b strings.Builder
		for len(text) > 0 {
			i := markerIndex(text)
			if i < 0 {
				b.Write(text)
				break
			}
			b.Write(text[:i])
			_, n, ok := markedValue(text[i:], readTable(t, &tbl), tbl.exp)
			if !ok {
				t.Fatalf("field %q: marker without its value in %q", f, text)
			}
			if text[i] == markExp {
				b.WriteString("<exp>")
				text = text[i+n:]
				continue
			}
			idx := text[i+1 : i+n]
			fmt.Fprintf(&b, "<%s %d>", [...]string{"hex", "uuid", "b64"}[text[i]], idx[0])
			text = text[i+n:]
		}
		texts = append(texts, b.String())
	}
	for _, v := range readTable(t, &tbl) {
		vals = append(vals, hex.EncodeToString(v))
	}
	return texts, vals
}

// readTable is tbl as a record stores it and decodeRecord reads it back.
func readTable(t *testing.T, tbl *valueTable) [][]byte {
	t.Helper()
	var d recordDecoder
	r := recordReader[string]{s: string(tbl.appendTo(nil))}
	d.readValues(&r)
	if r.bad || r.off != len(r.s) {
		t.Fatalf("the value table does not read back")
	}
	return d.vals
}

func TestRecordValuesExtracted(t *testing.T) {
	hex16 := "0123456789abcdef"
	uuid := "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
	b64 := base64.RawURLEncoding.EncodeToString([]byte("sixteen bytes ok"))         // 22 characters
	b64b := base64.RawURLEncoding.EncodeToString([]byte("seventeen bytes!!"))       // 23 characters
	b64c := base64.RawURLEncoding.EncodeToString([]byte("eighteen bytes..._")[:18]) // 24 characters
	for _, tt := range []struct {
		name   string
		fields []string
		texts  []string
		vals   []string
	}{
		{"hex at the threshold", []string{hex16}, []string{"<hex 0>"}, []string{hex16}},
		{"hex too short", []string{hex16[:14]}, []string{hex16[:14]}, nil},
		{"odd hex", []string{hex16 + "0"}, []string{hex16 + "0"}, nil},
		{"long odd hex is not base64", []string{strings.Repeat("ab", 20) + "c"}, []string{strings.Repeat("ab", 20) + "c"}, nil},
		{"uppercase hex is left as it is", []string{strings.ToUpper(hex16 + hex16)}, []string{strings.ToUpper(hex16 + hex16)}, nil},
		{"mixed-case hex", []string{"0123456789abcdeF"}, []string{"0123456789abcdeF"}, nil},
		{"hex in json", []string{`{"sub":"` + hex16 + hex16 + `","n":1}`}, []string{`{"sub":"<hex 0>","n":1}`}, []string{hex16 + hex16}},
		{"digits", []string{"12345678901234567890"}, []string{"<hex 0>"}, []string{"12345678901234567890"}},
		{"uuid", []string{`"` + uuid + `"`}, []string{`"<uuid 0>"`}, []string{strings.ReplaceAll(uuid, "-", "")}},
		{"uppercase uuid", []string{strings.ToUpper(uuid)}, []string{strings.ToUpper(uuid)}, nil},
		{"uuid run goes on", []string{uuid + "-x"}, []string{uuid + "-x"}, nil},
		{"hyphens elsewhere", []string{"0f1e2d3c4-b5a-6978-8796-a5b4c3d2e1f0"}, []string{"0f1e2d3c4-b5a-6978-8796-a5b4c3d2e1f0"}, nil},
		{"base64 at the threshold", []string{b64}, []string{"<b64 0>"}, []string{hex.EncodeToString([]byte("sixteen bytes ok"))}},
		{"base64 23 and 24", []string{b64b + "." + b64c}, []string{"<b64 0>.<b64 1>"},
			[]string{hex.EncodeToString([]byte("seventeen bytes!!")), hex.EncodeToString([]byte("eighteen bytes..._")[:18])}},
		{"base64 too short", []string{b64[:21]}, []string{b64[:21]}, nil},
		// The last character's unused bits are not zero: the run does not
		// come back from its bytes.
		{"base64 stray bits", []string{b64[:21] + "B"}, []string{b64[:21] + "B"}, nil},
		{"base64 impossible length", []string{b64 + b64[:3]}, []string{b64 + b64[:3]}, nil}, // 25 characters
		{"base32 id", []string{"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"}, []string{"<b64 0>"}, nil},
		{"words", []string{"preferred_username_and_more"}, []string{"preferred_username_and_more"}, nil},
		{"hex and hyphens only", []string{hex16 + "-" + hex16[:7]}, []string{hex16 + "-" + hex16[:7]}, nil},
		{"shared", []string{hex16 + hex16, `"` + hex16 + hex16 + `"`, hex16 + "." + hex16 + hex16},
			[]string{"<hex 0>", `"<hex 0>"`, "<hex 1>.<hex 0>"}, []string{hex16 + hex16, hex16}},
		// The same bytes spelled two ways are stored once.
		{"same bytes, other kinds", []string{hex16 + hex16, "ASNFZ4mrze8BI0VniavN7w"},
			[]string{"<hex 0>", "<b64 0>"}, []string{hex16 + hex16}},
		{"uuid and hex of the same bytes", []string{uuid, strings.ReplaceAll(uuid, "-", "")},
			[]string{"<uuid 0>", "<hex 0>"}, []string{strings.ReplaceAll(uuid, "-", "")}},
		{"empty", []string{""}, []string{""}, nil},
		{"exp", []string{`{"exp":1767229200,"iat":1767225600}`, "x1767229200.17672292000 -1767229200 1767229200"},
			// A number is a run of its own only between other characters
			// than [A-Za-z0-9_-].
			[]string{`{"exp":<exp>,"iat":1767225600}`, "x1767229200.17672292000 -1767229200 <exp>"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			texts, vals := extractExp(t, "1767229200", tt.fields...)
			if fmt.Sprint(texts) != fmt.Sprint(tt.texts) {
				t.Errorf("texts = %q, want %q", texts, tt.texts)
			}
			if tt.vals != nil && fmt.Sprint(vals) != fmt.Sprint(tt.vals) {
				t.Errorf("values = %q, want %q", vals, tt.vals)
			}
			if n := strings.Count(strings.Join(tt.texts, ""), "<") - strings.Count(strings.Join(tt.texts, ""), "<exp>"); tt.vals == nil && len(vals) != n {
				t.Errorf("%d values for %q", len(vals), tt.texts)
			}
		})
	}
}

// More values than the table scans for: the ones after find their equals
// by the index, and every field still comes back.
func TestRecordValuesMany(t *testing.T) {
	var fields []string
	for i := range 3 * maxScan {
		fields = append(fields, fmt.Sprintf("%032x", i%(2*maxScan)))
	}
	texts, vals := extract(t, fields...)
	if len(vals) != 2*maxScan {
		t.Errorf("%d values for %d different ones", len(vals), 2*maxScan)
	}
	for i, text := range texts {
		if want := fmt.Sprintf("<hex %d>", i%(2*maxScan)); text != want {
			t.Errorf("field %d = %q, want %q", i, text, want)
		}
	}
	s := &Session{ID: "many", Sub: strings.Join(fields, "."), RefreshToken: strings.Join(fields, "/")}
	checkRoundTrip(t, s)
}

func TestRecordValuesCorrupt(t *testing.T) {
	vals := [][]byte{bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 7), bytes.Repeat([]byte{3}, 15)}
	for _, text := range []string{
		"a\x00\x03", // no value 3
		"a\x00",     // no index
		"a\x00\x80", // the index goes on past the end
		"a\x00\x01", // hex of 7 bytes: too short to have been taken out
		"a\x01\x02", // a UUID of 15 bytes
		"a\x02\x02", // base64 of 15 bytes: 20 characters
		"a\x03",     // exp, of a record without TokenExpiry
	} {
		if out, err := appendExpanded(nil, []byte(text), vals, nil); err == nil {
			t.Errorf("%q expanded to %q", text, out)
		}
	}
	got, err := appendExpanded(nil, []byte("a\x00\x00b\x01\x00c\x03\x03"), vals, []byte("17"))
	if want := "a" + strings.Repeat("01", 16) + "b01010101-0101-0101-0101-010101010101c1717"; err != nil || string(got) != want {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
}

// FuzzRecordValues: any text without marker bytes comes back exactly from
// its values, alone and sharing a table with another field; with them it is
// not to be extracted at all.
func FuzzRecordValues(f *testing.F) {
	s := recordSession(f)
	f.Add([]byte(s.AccessToken), []byte(s.Sub), s.TokenExpiry.Unix())
	f.Add([]byte("0123456789abcdef 0123456789abcdef0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"), []byte("0123456789abcdef"), int64(1))
	f.Add([]byte(base64.RawURLEncoding.EncodeToString([]byte("sixteen bytes ok"))+"_"), []byte("ASNFZ4mrze8BI0VniavN7w"), int64(-1))
	f.Add([]byte("\x00\x01"), []byte{}, int64(0))
	f.Add([]byte(`{"exp":1767229200}`), []byte("-12"), int64(1767229200))
	f.Fuzz(func(t *testing.T, a, b []byte, exp int64) {
		if hasMarker(a) || hasMarker(b) {
			// encodeRecord stores such a field as it is; FuzzRecordRoundTrip covers it.
			return
		}
		tbl := valueTable{exp: strconv.AppendInt(nil, exp, 10)}
		ta := tbl.appendExtracted(nil, a)
		tb := tbl.appendExtracted(nil, b)
		if len(ta) > len(a) || len(tb) > len(b) {
			t.Errorf("extraction made text longer: %d > %d or %d > %d", len(ta), len(a), len(tb), len(b))
		}
		vals := readTable(t, &tbl)
		for _, c := range []struct{ text, want []byte }{{ta, a}, {tb, b}} {
			got, err := appendExpanded(nil, c.text, vals, tbl.exp)
			if err != nil || !bytes.Equal(got, c.want) {
				t.Fatalf("%q came back as %q, %v", c.want, got, err)
			}
		}
	})
}

// The provider's client id (authentik's are 40 random letters and digits,
// base64url-shaped) stays text, where its provider's dictionary holds it,
// and a JWT header (the provider's key id) is kept as it is: neither
// becomes a value of each session. Everything comes back.
func TestRecordClientIDAndHeaderStayText(t *testing.T) {
	cid := "Xq3vN8bT2kLm9PzR4sWy7HcJ5dFg1AeU6iOo0nBx"
	kid := "8d9c5a2b0e4f4e6b9a1c3d5e7f901234"
	s := recordSession(t)
	s.Provider = cid
	s.Claims["aud"], s.Claims["azp"] = cid, cid
	var err error
	if s.IDToken, err = sessionshape.Sign("RS256", map[string]any{"aud": cid, "sub": s.Sub}, func(n int) []byte { return make([]byte, n) }); err != nil {
		t.Fatal(err)
	}
	e := &recordEncoder{}
	e.vals.reset()
	e.vals.keep = append(e.vals.keep, cid...)
	for _, f := range []string{`{"aud":"` + cid + `","sub":"` + s.Sub + `"}`} {
		e.putField([]byte(f))
	}
	raw, _ := base64.RawURLEncoding.DecodeString(cid)
	for _, v := range readTable(t, &e.vals) {
		if string(v) == string(raw) {
			t.Error("the client id became a value")
		}
	}
	if len(readTable(t, &e.vals)) != 1 {
		t.Errorf("%d values, want 1 (sub)", len(readTable(t, &e.vals)))
	}
	rec := checkRoundTrip(t, s)
	kidRaw, _ := hex.DecodeString(kid)
	if strings.Contains(rec, string(kidRaw)) {
		t.Error("the key id became a value")
	}
}
