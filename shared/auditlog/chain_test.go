package auditlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

const event = `{"timestamp":"2026-02-23T12:34:56.789000+00:00","event_type":"mcp_operation","event_id":"a1b2c3d4-e5f6-4890-abcd-ef1234567890","source":{"session_id":"s1","client_ip":"127.0.0.1","user_id":"alice"},"target":{"backend":"demo","method":"call_tool","capability_name":"demo_search","original_name":"search"},"outcome":{"status":"success","latency_ms":42.5,"error":null,"error_type":null},"metadata":{}}`

// TestSealFormat pins the record format against the contract, computing
// the hash independently of the package.
func TestSealFormat(t *testing.T) {
	c := NewChain(nil)
	line, err := c.Seal([]byte(event), "stream-1", 7)
	if err != nil {
		t.Fatal(err)
	}
	canonical := `{"delivery":{"seq":7,"stream":"stream-1"},"event_id":"a1b2c3d4-e5f6-4890-abcd-ef1234567890","event_type":"mcp_operation","metadata":{},"outcome":{"error":null,"error_type":null,"latency_ms":42.5,"status":"success"},"source":{"client_ip":"127.0.0.1","session_id":"s1","user_id":"alice"},"target":{"backend":"demo","capability_name":"demo_search","method":"call_tool","original_name":"search"},"timestamp":"2026-02-23T12:34:56.789000+00:00"}`
	sum := sha256.Sum256([]byte(GenesisHash + "\n" + canonical))
	want := strings.TrimSuffix(event, "}") +
		`,"delivery":{"stream":"stream-1","seq":7},"integrity":{"seq":1,"prev_hash":"` + GenesisHash +
		`","hash":"` + hex.EncodeToString(sum[:]) + "\"}}\n"
	if string(line) != want {
		t.Fatalf("Seal =\n%s\nwant\n%s", line, want)
	}
	got, err := Canonical(line)
	if err != nil || string(got) != canonical {
		t.Fatalf("Canonical = %s, %v\nwant %s", got, err, canonical)
	}
	if c.Seq() != 1 || c.Head() != hex.EncodeToString(sum[:]) {
		t.Fatalf("chain head = %d %s", c.Seq(), c.Head())
	}
	line2, _ := c.Seal([]byte(`{}`), "stream-1", 8)
	rec, err := Check(line2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Integrity.PrevHash != hex.EncodeToString(sum[:]) || rec.Integrity.Seq != 2 || rec.Delivery != (Delivery{Stream: "stream-1", Seq: 8}) {
		t.Fatalf("second record = %+v", rec)
	}
	if !bytes.HasPrefix(line2, []byte(`{"delivery":{"stream":"stream-1","seq":8},"integrity":{"seq":2,`)) {
		t.Fatalf("empty event sealed as %s", line2)
	}
}

func TestCanonical(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"keys sorted at every depth", `{"b":1,"a":{"z":[{"y":1,"x":2}],"c":true}}`, `{"a":{"c":true,"z":[{"x":2,"y":1}]},"b":1}`},
		{"numbers keep their text", `{"a":1.0,"b":1e3,"c":-0,"d":12345678901234567890}`, `{"a":1.0,"b":1e3,"c":-0,"d":12345678901234567890}`},
		{"no HTML escaping", `{"a":"<b>&\u003c"}`, `{"a":"<b>&<"}`},
		{"line separators escaped", "{\"a\":\"x\u2028y\"}", `{"a":"x\u2028y"}`},
		{"whitespace dropped", "{ \"a\" : [ 1 , 2 ] ,\n\"b\":null }", `{"a":[1,2],"b":null}`},
		{"integrity removed", `{"a":1,"integrity":{"seq":1}}`, `{"a":1}`},
		{"unicode escapes decoded", `{"a":"\u00e9\ud83d\ude00"}`, `{"a":"é😀"}`},
		{"lone surrogate replaced", `{"a":"\ud800"}`, `{"a":"` + "\uFFFD" + `"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Canonical([]byte(tc.in))
			if err != nil || string(got) != tc.want {
				t.Fatalf("Canonical(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
			}
		})
	}
	for _, bad := range []string{`[]`, `{"a":1,"a":2}`, `{"a":{"b":1,"b":1}}`, `{"a":1} {}`, `{"a":`, ``, strings.Repeat("[", 2000) + strings.Repeat("]", 2000)} {
		if _, err := Canonical([]byte(bad)); err == nil {
			t.Errorf("Canonical(%.40s) succeeded", bad)
		}
	}
}

func TestSealRejects(t *testing.T) {
	for _, ev := range []string{
		`[1,2]`, `"x"`, `null`, `{"a":1`, `{"a":1}x`, `{"a":1,"a":1}`,
		`{"delivery":{}}`, `{"integrity":1}`, ``,
	} {
		c := NewChain(nil)
		if _, err := c.Seal([]byte(ev), "s", 1); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("Seal(%s) = %v, want ErrInvalidEvent", ev, err)
		}
		if c.Seq() != 0 || c.Head() != GenesisHash {
			t.Errorf("Seal(%s) advanced the chain", ev)
		}
	}
}

func TestSealInvalidUTF8(t *testing.T) {
	c := NewChain(nil)
	line, err := c.Seal([]byte("{\"a\":\"ok\xff\xfebad\",\"b\":\"\xc3\"}"), "s\xffx", 1)
	if err != nil {
		t.Fatal(err)
	}
	if !utf8.Valid(line) {
		t.Fatalf("line is not UTF-8: %q", line)
	}
	if !bytes.Contains(line, []byte(`"a":"ok`+"\uFFFD"+`bad","b":"`+"\uFFFD"+`"`)) {
		t.Fatalf("invalid bytes not replaced: %s", line)
	}
	if _, err := Check(line, nil); err != nil {
		t.Fatal(err)
	}
}

func TestSealCompactsAndKeepsOrder(t *testing.T) {
	c := NewChain(nil)
	line, err := c.Seal([]byte("{ \"z\": 1,\n \"a\": \"<&> \" }"), "s", 1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(line, []byte(`{"z":1,"a":"<&> ","delivery":`)) || bytes.Count(line, []byte("\n")) != 1 {
		t.Fatalf("line = %s", line)
	}
}

func TestResumeAndKeys(t *testing.T) {
	for _, key := range [][]byte{nil, []byte("0123456789abcdef0123456789abcdef")} {
		t.Run(fmt.Sprintf("key=%t", key != nil), func(t *testing.T) {
			a := NewChain(key)
			var lines [][]byte
			for i := range 3 {
				l, err := a.Seal([]byte(event), "s", uint64(i+1))
				if err != nil {
					t.Fatal(err)
				}
				lines = append(lines, l)
			}
			b := NewChain(key)
			rec, err := b.Resume(lines[2])
			if err != nil || rec.Integrity.Seq != 3 || rec.Delivery.Seq != 3 || b.Head() != a.Head() {
				t.Fatalf("Resume = %+v, %v", rec, err)
			}
			l4, _ := b.Seal([]byte(event), "s", 4)
			l4a, _ := a.Seal([]byte(event), "s", 4)
			if !bytes.Equal(l4, l4a) {
				t.Fatalf("resumed chain differs:\n%s\n%s", l4, l4a)
			}
			for _, l := range append(lines, l4) {
				if _, err := Check(l, key); err != nil {
					t.Fatal(err)
				}
			}
			wrong := []byte("another key, 32 bytes long......")
			if _, err := Check(l4, wrong); !errors.Is(err, ErrHashMismatch) {
				t.Fatalf("Check with the wrong key = %v", err)
			}
			if key != nil {
				if _, err := Check(l4, nil); !errors.Is(err, ErrHashMismatch) {
					t.Fatalf("Check without the key = %v", err)
				}
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	good := `{"a":1,"integrity":{"seq":1,"prev_hash":"` + GenesisHash + `","hash":"` + GenesisHash + `"}}`
	if _, err := Parse([]byte(good)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		`{"a":1}`,
		`{"integrity":{"seq":0,"prev_hash":"` + GenesisHash + `","hash":"` + GenesisHash + `"}}`,
		`{"integrity":{"seq":-1,"prev_hash":"` + GenesisHash + `","hash":"` + GenesisHash + `"}}`,
		`{"integrity":{"seq":1.5,"prev_hash":"` + GenesisHash + `","hash":"` + GenesisHash + `"}}`,
		`{"integrity":{"seq":1,"prev_hash":"` + strings.ToUpper(strings.Repeat("a", 64)) + `","hash":"` + GenesisHash + `"}}`,
		`{"integrity":{"seq":1,"prev_hash":"` + GenesisHash + `","hash":"abc"}}`,
		`{"integrity":{"seq":1,"prev_hash":"` + GenesisHash + `","hash":"` + GenesisHash + `","note":"x"}}`,
		`{"delivery":{"stream":1,"seq":1},"integrity":{"seq":1,"prev_hash":"` + GenesisHash + `","hash":"` + GenesisHash + `"}}`,
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%s) succeeded", bad)
		}
	}
	c := NewChain(nil)
	if err := c.SetHead(3, GenesisHash); err == nil {
		t.Error("SetHead(3, genesis) succeeded")
	}
	if err := c.SetHead(0, strings.Repeat("a", 64)); err == nil {
		t.Error("SetHead(0, non-genesis) succeeded")
	}
}

func BenchmarkSeal(b *testing.B) {
	c := NewChain(nil)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := c.Seal([]byte(event), "stream", uint64(i+1)); err != nil {
			b.Fatal(err)
		}
	}
}
