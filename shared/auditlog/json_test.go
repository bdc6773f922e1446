package auditlog

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
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
		inputs = append(inputs, randomJSON(r, 0))
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

func randomJSON(r *rand.Rand, depth int) string {
	n := 6
	if depth > 3 {
		n = 4
	}
	switch r.IntN(n) {
	case 0:
		return []string{"0", "-12.5", "3e7", "1E-3", "42"}[r.IntN(5)]
	case 1:
		return []string{"true", "false", "null"}[r.IntN(3)]
	case 2, 3:
		b, _ := json.Marshal(randomString(r))
		if r.IntN(3) == 0 {
			b = bytes.ReplaceAll(b, []byte("a"), []byte(`\u0061`))
		}
		return string(b)
	case 4:
		parts := make([]string, r.IntN(4))
		for i := range parts {
			parts[i] = randomJSON(r, depth+1)
		}
		return "[" + strings.Join(parts, " , ") + "]"
	default:
		seen := map[string]bool{}
		var parts []string
		for range r.IntN(5) {
			k := randomString(r)
			if seen[k] {
				continue
			}
			seen[k] = true
			kb, _ := json.Marshal(k)
			parts = append(parts, string(kb)+":"+randomJSON(r, depth+1))
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
}

func randomString(r *rand.Rand) string {
	const alphabet = "ab<>&\"\\/\n\té😀\u2028 "
	rs := []rune(alphabet)
	var b strings.Builder
	for range r.IntN(6) {
		b.WriteRune(rs[r.IntN(len(rs))])
	}
	return b.String()
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
		v, err := decode([]byte(randomJSON(r, 0)))
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
