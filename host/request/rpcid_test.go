package request

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzDecodeID: decodeID decodes every id exactly as json.Unmarshal into an any
// does, and refuses what it refuses.
func FuzzDecodeID(f *testing.F) {
	for _, s := range []string{`7`, `0`, `-0`, `-12`, `012`, `1e3`, `1.0`, `123456789012345`, `1234567890123456`,
		`-123456789012345`, `"a"`, `""`, `"\u0061"`, `"a\"b"`, "\"\x01\"", "\"\xff\"", `"é"`, `"`, `-`, `null`, `true`,
		`{}`, `[1]`, ` 7`, `7 `, `"a" `} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, ok := decodeID(raw)
		var want any
		wantOK := json.Unmarshal([]byte(raw), &want) == nil
		if ok != wantOK {
			t.Fatalf("%q: ok %v, json.Unmarshal %v", raw, ok, wantOK)
		}
		if !ok {
			return
		}
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		if !reflect.DeepEqual(got, want) || string(gb) != string(wb) {
			t.Fatalf("%q: %#v (%s), json.Unmarshal %#v (%s)", raw, got, gb, want, wb)
		}
	})
}

// BenchmarkDecodeID: decoding a call's JSON-RPC id (the audit event's
// metadata.jsonrpc_id), directly and with json.Unmarshal, for a numeric and a string id.
func BenchmarkDecodeID(b *testing.B) {
	for _, raw := range []string{`42`, `"req-42"`} {
		b.Run("direct/"+raw, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := decodeID(raw); !ok {
					b.Fatal(raw)
				}
			}
		})
		b.Run("json.Unmarshal/"+raw, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var id any
				if json.Unmarshal([]byte(raw), &id) != nil {
					b.Fatal(raw)
				}
			}
		})
	}
}

// TestRPCIDText: what a span records as the id.
func TestRPCIDText(t *testing.T) {
	for raw, want := range map[string]string{
		"": "", `7`: "7", `-12`: "-12", `1e3`: "1e3", `"abc"`: "abc",
		`"a\"b"`: `a"b`, `"\u0061"`: "a", `{`: "", `"x`: "",
	} {
		f := Facts{JSONRPCID: raw}
		if got := f.RPCIDText(); got != want {
			t.Errorf("%q: %q, want %q", raw, got, want)
		}
	}
}
