package fastcanon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/argusmcp/argus/shared/auditlog"
	"github.com/argusmcp/argus/shared/auditlog/internal/jsongen"
)

// counting is a Canonicaliser that counts the lines it accepts.
type counting struct {
	Canonicaliser
	taken int
}

func (c *counting) CanonicalRecord(line []byte) ([]byte, bool) {
	out, ok := c.Canonicaliser.CanonicalRecord(line)
	if ok {
		c.taken++
	}
	return out, ok
}

// sealBoth seals event into two chains at the same position, one with the
// fast path, and reports any difference in record, error or chain head.
func sealBoth(ref, fast *auditlog.Chain, event []byte, stream string, seq uint64) error {
	want, werr := ref.Seal(event, stream, seq)
	got, gerr := fast.Seal(event, stream, seq)
	switch {
	case (werr == nil) != (gerr == nil):
		return fmt.Errorf("Seal(%q): reference error %v, fast path error %v", event, werr, gerr)
	case !bytes.Equal(got, want):
		return fmt.Errorf("Seal(%q) differs:\nfast      %s\nreference %s", event, got, want)
	case fast.Seq() != ref.Seq() || fast.Head() != ref.Head():
		return fmt.Errorf("Seal(%q): chain heads differ: fast %d %s, reference %d %s", event, fast.Seq(), fast.Head(), ref.Seq(), ref.Head())
	}
	return nil
}

// TestSealFastPath: Seal with the fast canonicaliser writes exactly the
// records (and errors) of the reference path, and takes the fast path for
// every compact event the host sends, HTML escapes, U+2028, surrogate
// pairs and nesting included; events it must not take (whitespace,
// duplicate or reserved keys, invalid UTF-8, not an object) go the
// reference way.
func TestSealFastPath(t *testing.T) {
	compact := []string{
		`{}`,
		`{"timestamp":"2026-11-30T09:00:00.000000+00:00","event_type":"mcp_operation","event_id":"e","source":{"session_id":null},"outcome":{"latency_ms":0.25,"error":"\u003cb\u003e \u0026 \"q\""},"metadata":{"jsonrpc_error_code":-32603}}`,
		`{"z":1,"a":{"y":[1,2,{"b":null,"a":true}],"x":false}}`,
		`{"esc":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00","raw":"é😀","sep":"a` + "\u2028" + `b"}`,
		`{"b":1,"a":2,"ab":3,"B":4,"é":5,"":6}`,
	}
	reference := []string{
		` {"a":1}`,
		`{"a": 1}`,
		`{"a":1,"a":2}`,
		`{"a":{"x":1,"x":2}}`,
		`{"delivery":1}`,
		`{"integrity":{}}`,
		`{"a":1,"\u0061":2}`,
		"{\"a\":\"\xff\"}",
		`[1]`,
		`{"a":1}}`,
		`{"a":"}`,
		`{"a":{"b":1}`,
		`{"a":1},{"b":2}`,
		`{ }`,
		`{"a":1,}`,
		`{"a":`,
		`{`,
		``,
	}
	r := rand.New(rand.NewPCG(5, 6))
	for range 200 {
		compact = append(compact, `{"k":`+jsongen.Value(r, 0)+`}`)
	}
	for _, key := range [][]byte{nil, []byte("0123456789abcdef")} {
		for _, id := range []string{"", auditlog.NewChainID()} {
			ref, fast := auditlog.NewChain(key), auditlog.NewChain(key)
			ref.SetID(id)
			fast.SetID(id)
			fc := &counting{}
			fast.SetFast(fc)
			seq := uint64(0)
			for _, ev := range append(append([]string{}, compact...), reference...) {
				seq++
				if err := sealBoth(ref, fast, []byte(ev), "stream \"é\"\n", seq); err != nil {
					t.Fatal(err)
				}
			}
			// jsongen may produce whitespace: count what Seal must take.
			want := 0
			for _, ev := range compact {
				var buf bytes.Buffer
				if err := json.Compact(&buf, []byte(ev)); err == nil && buf.String() == ev {
					want++
				}
			}
			if fc.taken != want || want < len(compact)/2 {
				t.Errorf("the fast path took %d events, want %d of %d compact ones", fc.taken, want, len(compact))
			}
		}
	}
}

// FuzzSealFast: for any event and stream, Seal with the fast path writes
// what the reference path writes (or fails alike), so the sink's records
// never depend on which path sealed them.
func FuzzSealFast(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":{"c":[true,null,"\u003c"]}}`), "s")
	f.Add([]byte(`{"a":1,"delivery":{}}`), "s")
	f.Add([]byte(`{"a":"x"} `), "s\xff")
	f.Fuzz(func(t *testing.T, event []byte, stream string) {
		ref, fast := auditlog.NewChain(nil), auditlog.NewChain(nil)
		ref.SetID("c")
		fast.SetID("c")
		fast.SetFast(&Canonicaliser{})
		for seq := uint64(1); seq <= 2; seq++ {
			if err := sealBoth(ref, fast, event, stream, seq); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// hostEvent is an mcp_operation event as the host encodes it.
const hostEvent = `{"timestamp":"2026-02-23T12:34:56.789000+00:00","event_type":"mcp_operation","event_id":"a1b2c3d4-e5f6-4890-abcd-ef1234567890","source":{"session_id":"7KQ2M4ZVJ3XWJ5T2H6R4B3C2DA","client_ip":"127.0.0.1","user_id":null},"target":{"backend":"demo","method":"call_tool","capability_name":"echo","original_name":"echo"},"outcome":{"status":"success","latency_ms":0.542,"error":null,"error_type":null},"metadata":{"jsonrpc_id":17,"protocol_version":"2025-11-25","request_id":"0b3f5c1e-2f7a-4e2b-9a55-0f3c1d2e4b6a","span_id":"0123456789abcdef","trace_id":"0123456789abcdef0123456789abcdef","transport":"streamable-http"}}`

// The fast path writes a record into the one buffer it allocates for it,
// even with a chain id and the longest sequence numbers: growing it
// cleared and copied every line once more (a fifth of the jsonl sink's
// CPU in its profile).
func TestSealFastFitsItsBuffer(t *testing.T) {
	c := auditlog.NewChain(nil)
	c.SetFast(&Canonicaliser{})
	c.SetID(auditlog.NewChainID())
	if err := c.SetHead(math.MaxUint64-1, strings.Repeat("a", 64)); err != nil {
		t.Fatal(err)
	}
	const stream = "6241a50a-560c-4824-8ef6-33bb0e692a09"
	line, err := c.Seal([]byte(hostEvent), stream, math.MaxUint64)
	if err != nil || !bytes.Contains(line, []byte(`"seq":18446744073709551615`)) {
		t.Fatalf("Seal = %s, %v", line, err)
	}
	// A grown slice would have a capacity rounded up past the first one.
	if first := len(hostEvent) + len(stream) + len(c.ID()) + 260; cap(line) != first {
		t.Errorf("the record (%d bytes) is in a buffer of %d, want the first one, %d", len(line), cap(line), first)
	}
}

func BenchmarkSealFast(b *testing.B) {
	c := auditlog.NewChain(nil)
	c.SetFast(&Canonicaliser{})
	c.SetID(auditlog.NewChainID())
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := c.Seal([]byte(hostEvent), "6241a50a-560c-4824-8ef6-33bb0e692a09", uint64(i+1)); err != nil {
			b.Fatal(err)
		}
	}
}
