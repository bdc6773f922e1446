package fastcanon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
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
