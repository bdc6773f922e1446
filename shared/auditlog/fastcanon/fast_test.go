package fastcanon

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/argusmcp/argus/shared/auditlog"
	"github.com/argusmcp/argus/shared/auditlog/internal/auditlogtest"
	"github.com/argusmcp/argus/shared/auditlog/internal/jsongen"
)

// fastAgrees checks the fast path against parse on one line: where the
// fast path accepts it, parse must accept it too, with the same
// canonical form and the same integrity and delivery. accepted reports
// whether the fast path took the line.
func fastAgrees(line []byte) (accepted bool, err error) {
	var c Canonicaliser
	rec, ok := c.Record(bytes.TrimSuffix(line, []byte("\n")))
	if !ok {
		return false, nil
	}
	want, canon, err := auditlog.ParseCanonical(line)
	switch {
	case err != nil:
		return true, fmt.Errorf("fast path accepts %q, parse rejects it: %v", line, err)
	case !bytes.Equal(c.out, canon):
		return true, fmt.Errorf("canonical forms of %q differ:\nfast  %s\nparse %s", line, c.out, canon)
	case rec.Seq != want.Integrity.Seq || string(rec.PrevHash) != want.Integrity.PrevHash || string(rec.Hash) != want.Integrity.Hash:
		return true, fmt.Errorf("integrity of %q differs: fast seq %d %s %s, parse %+v", line, rec.Seq, rec.PrevHash, rec.Hash, want.Integrity)
	case string(rec.Chain) != want.Delivery.Chain || rec.DeliverySeq != want.Delivery.Seq:
		return true, fmt.Errorf("delivery of %q differs: fast chain %q seq %d, parse %+v", line, rec.Chain, rec.DeliverySeq, want.Delivery)
	}
	return true, nil
}

// TestFastPathTakesSealedRecords: the fast path agrees with parse on
// what Seal writes, and takes all of it (else verify would be slow), HTML
// escapes from encoding/json, surrogate pairs, U+2028 and nesting
// included.
func TestFastPathTakesSealedRecords(t *testing.T) {
	events := []string{
		`{}`,
		`{"event_type":"mcp_operation","z":1,"a":{"y":[1,2,{"b":null,"a":true}],"x":false}}`,
		`{"html":"\u003cscript\u003e \u0026 x","esc":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00","raw":"é😀"}`,
		"{\"sep\":\"a\u2028b\u2029c\",\"ctl\":\"\\u0000\\u001f\\u007f\"}",
		`{"n":[0,-0,1E2,1e-2,123456789012345678901234567890,0.5,-1.25e+10]}`,
		` { "spaced" : [ 1 , { "b" : "" } ] , "e" : { } , "l" : [ ] } `,
		`{"b":1,"a":2,"ab":3,"B":4,"é":5,"":6,"\u003ca":7,"\"":8,"\u2028":9}`,
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		events = append(events, `{"k":`+jsongen.Value(r, 0)+`}`)
	}
	for _, key := range [][]byte{nil, []byte("k")} {
		for _, id := range []string{"", auditlog.NewChainID()} {
			c := auditlog.NewChain(key)
			c.SetID(id)
			for i, ev := range events {
				line, err := c.Seal([]byte(ev), "stream \"é\"\n", uint64(i+1))
				if err != nil {
					t.Fatalf("Seal(%s): %v", ev, err)
				}
				accepted, err := fastAgrees(line)
				if err != nil {
					t.Fatal(err)
				}
				if !accepted {
					t.Errorf("fast path declines a sealed record: %s", line)
				}
			}
		}
	}
}

// TestFastPathDeclines: lines the fast path must leave to parse (which
// rejects them or decodes escapes in keys) are not taken.
func TestFastPathDeclines(t *testing.T) {
	const h = `"prev_hash":"` + auditlog.GenesisHash + `","hash":"` + auditlog.GenesisHash + `"`
	for _, line := range []string{
		`{"a":1,"a":2,"integrity":{"seq":1,` + h + `}}`,
		`{"a":{"x":1,"x":1},"integrity":{"seq":1,` + h + `}}`,
		`{"integrity":{"seq":1,` + h + `},"integrity":{"seq":1,` + h + `}}`,
		`{"a":1,"\u0061":2,"integrity":{"seq":1,` + h + `}}`,
		`{"integrity":{"seq":1,` + h + `},"integr\u0069ty":{"seq":1,` + h + `}}`,
		`{"a":"\ud800","integrity":{"seq":1,` + h + `}}`,
		"{\"a\":\"\xff\",\"integrity\":{\"seq\":1," + h + "}}",
		`{"a":01,"integrity":{"seq":1,` + h + `}}`,
		`{"integrity":{"seq":0,` + h + `}}`,
		`{"integrity":{"seq":1.0,` + h + `}}`,
		`{"integrity":{"seq":18446744073709551616,` + h + `}}`,
		`{"integrity":{"seq":1,` + h + `,"x":1}}`,
		`{"integrity":{"seq":1,` + h + `}} x`,
		`{"integrity":{"seq":1,` + h + `},}`,
		`{"a":{"b":1,},"integrity":{"seq":1,` + h + `}}`,
		`{"a":[1,],"integrity":{"seq":1,` + h + `}}`,
		`{"a":[,1],"integrity":{"seq":1,` + h + `}}`,
		`{"integrity":{"seq":1,` + h + `,}}`,
		`{"delivery":{"stream":"s","seq":-1},"integrity":{"seq":1,` + h + `}}`,
		`{"delivery":{"stream":1,"seq":1},"integrity":{"seq":1,` + h + `}}`,
		`{"delivery":{"stream":"s","seq":1,"chain":7},"integrity":{"seq":1,` + h + `}}`,
		`{"delivery":[],"integrity":{"seq":1,` + h + `}}`,
		`[{"integrity":{"seq":1,` + h + `}}]`,
	} {
		accepted, err := fastAgrees([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		if accepted {
			t.Errorf("fast path takes %s", line)
		}
	}
}

// FuzzFastCanonical: on any line, the fast path either declines it or
// agrees with parse (same verdict, canonical form, integrity and
// delivery).
func FuzzFastCanonical(f *testing.F) {
	f.Add(auditlogtest.Sealed(f, nil, 1))
	f.Add([]byte(`{"x":"\u003c\ud83d\ude00\u2028","a":[1,{"c":{},"b":[]}],"delivery":{"stream":"s","seq":2,"chain":"c"},"integrity":{"seq":1,"prev_hash":"` + auditlog.GenesisHash + `","hash":"` + auditlog.GenesisHash + `"}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		if _, err := fastAgrees(line); err != nil {
			t.Fatal(err)
		}
	})
}

// TestFastPathTakesGapRecord: the fast path takes an audit_gap record as
// Seal writes it, agrees with parse on it and marks it as a gap.
func TestFastPathTakesGapRecord(t *testing.T) {
	c := auditlog.NewChain(nil)
	line, err := c.Seal(auditlog.GapEvent(auditlog.Gap{Reason: "truncated", FirstMissing: 4, LastMissing: 5, Detail: "cut"}, time.Now()), "s", 1)
	if err != nil {
		t.Fatal(err)
	}
	if accepted, err := fastAgrees(line); err != nil || !accepted {
		t.Fatalf("fast path on the gap record %s: accepted %v, %v", line, accepted, err)
	}
	var fc Canonicaliser
	if rec, _ := fc.Record(bytes.TrimSuffix(line, []byte("\n"))); !rec.Gap {
		t.Fatalf("gap record %s not marked as a gap", line)
	}
}
