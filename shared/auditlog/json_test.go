package auditlog

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/argusmcp/argus/shared/auditlog/internal/jsongen"
)

// TestDecodeMatchesEncodingJSON checks the parser against encoding/json
// with UseNumber on inputs without duplicate keys.
func TestDecodeMatchesEncodingJSON(t *testing.T) {
	inputs := []string{
		`{}`, `[]`, `""`, `0`, `-1.5e+10`, `true`, `false`, `null`,
		` { "a" : [ 1 , { "b" : null } , "x" ] , "c" : { } } `,
		`{"esc":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00\ud800 end","raw":"é😀"}`,
		"{\"bad utf8\":\"a\xffb\xc3\",\"k\xfe\":1}",
		`[[[[[]]]],[{"a":[{"b":[1,2,{"c":"d"}]}]}]]`,
		`{"n":[0,-0,1E2,1e-2,123456789012345678901234567890,0.5]}`,
		`{"a\u0000b":"\u001f"}`,
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		inputs = append(inputs, jsongen.Value(r, 0))
	}
	for _, in := range inputs {
		got, err := decode([]byte(in))
		if err != nil {
			t.Fatalf("decode(%q): %v", in, err)
		}
		dec := json.NewDecoder(strings.NewReader(in))
		dec.UseNumber()
		var want any
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("encoding/json(%q): %v", in, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decode(%q) =\n%#v\nwant\n%#v", in, got, want)
		}
	}
	for _, bad := range []string{`{"a":1,"a":2}`, `{"a":1,"\u0061":2}`, `[{"x":{"y":1,"y":1}}]`, `{`, `{"a" 1}`, `01`, `{"a":1}}`, "\"\x01\""} {
		if _, err := decode([]byte(bad)); err == nil {
			t.Errorf("decode(%q) succeeded", bad)
		}
	}
}

// TestEncodeMatchesEncodingJSON holds the canonical encoder to what the
// contract names: encoding/json's Encoder without HTML escaping.
func TestEncodeMatchesEncodingJSON(t *testing.T) {
	var values []any
	for _, in := range []string{
		`{"z":1,"a":{"y":[true,false,null,"x"],"b":{}},"":[],"A":"B"}`,
		`{"n":[0,-0,1E2,1e-2,123456789012345678901234567890,0.5,-1.25e+300]}`,
	} {
		v, err := decode([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		values = append(values, v)
	}
	var all []rune
	for r := rune(0); r < 0x80; r++ {
		all = append(all, r)
	}
	all = append(all, 'é', '\u2028', '\u2029', '\uFFFD', '😀', 0x10FFFF)
	values = append(values, string(all), "bad \xff\xfe utf8 \xc3", map[string]any{string(all): "k", "\xff": "\x00"})
	r := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		v, err := decode([]byte(jsongen.Value(r, 0)))
		if err != nil {
			t.Fatal(err)
		}
		values = append(values, v)
	}
	for _, v := range values {
		got, err := encode(v)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		if want := bytes.TrimSuffix(b.Bytes(), []byte("\n")); !bytes.Equal(got, want) {
			t.Fatalf("encode(%#v) =\n%s\nwant\n%s", v, got, want)
		}
	}
	for _, bad := range []any{json.Number("1x"), json.Number(""), json.Number("[1]"), 1.5} {
		if _, err := encode(bad); err == nil {
			t.Errorf("encode(%#v) succeeded", bad)
		}
	}
}
