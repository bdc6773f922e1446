package auditlog

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fastAgrees checks the fast path against parse on one line: where the
// fast path accepts it, parse must accept it too, with the same
// canonical form and the same integrity and delivery. accepted reports
// whether the fast path took the line.
func fastAgrees(line []byte) (accepted bool, err error) {
	var c canonicaliser
	rec, ok := c.record(bytes.TrimSuffix(line, []byte("\n")))
	if !ok {
		return false, nil
	}
	want, canon, err := parse(line)
	switch {
	case err != nil:
		return true, fmt.Errorf("fast path accepts %q, parse rejects it: %v", line, err)
	case !bytes.Equal(c.out, canon):
		return true, fmt.Errorf("canonical forms of %q differ:\nfast  %s\nparse %s", line, c.out, canon)
	case rec.seq != want.Integrity.Seq || string(rec.prevHash) != want.Integrity.PrevHash || string(rec.hash) != want.Integrity.Hash:
		return true, fmt.Errorf("integrity of %q differs: fast seq %d %s %s, parse %+v", line, rec.seq, rec.prevHash, rec.hash, want.Integrity)
	case string(rec.chain) != want.Delivery.Chain || rec.deliverySeq != want.Delivery.Seq:
		return true, fmt.Errorf("delivery of %q differs: fast chain %q seq %d, parse %+v", line, rec.chain, rec.deliverySeq, want.Delivery)
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
		events = append(events, `{"k":`+randomJSON(r, 0)+`}`)
	}
	for _, key := range [][]byte{nil, []byte("k")} {
		for _, id := range []string{"", NewChainID()} {
			c := NewChain(key)
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
	const h = `"prev_hash":"` + GenesisHash + `","hash":"` + GenesisHash + `"`
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
	f.Add(sealed(f, nil, 1))
	f.Add([]byte(`{"x":"\u003c\ud83d\ude00\u2028","a":[1,{"c":{},"b":[]}],"delivery":{"stream":"s","seq":2,"chain":"c"},"integrity":{"seq":1,"prev_hash":"` + GenesisHash + `","hash":"` + GenesisHash + `"}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		if _, err := fastAgrees(line); err != nil {
			t.Fatal(err)
		}
	})
}

// TestVerifyReportsGapRecord: an audit_gap record in the chain is
// reported with its range, whether it stands where the records went
// missing or in a chain that is otherwise whole (the worker marks it on
// the fast path, the chain walk reads it).
func TestVerifyReportsGapRecord(t *testing.T) {
	for _, skip := range []uint64{0, 2} {
		c := NewChain(nil)
		var trail []byte
		for i := range 3 {
			line, err := c.Seal([]byte(`{"event_type":"mcp_operation"}`), "s", uint64(i+1))
			if err != nil {
				t.Fatal(err)
			}
			trail = append(trail, line...)
		}
		if err := c.SetHead(c.Seq()+skip, c.Head()); err != nil {
			t.Fatal(err)
		}
		gap := Gap{Reason: "truncated", FirstMissing: 4, LastMissing: 3 + skip, Detail: "cut"}
		if skip == 0 {
			gap.FirstMissing, gap.LastMissing = 0, 0
		}
		line, err := c.Seal(GapEvent(gap, time.Now()), "s", 4)
		if err != nil {
			t.Fatal(err)
		}
		if accepted, err := fastAgrees(line); err != nil || !accepted {
			t.Fatalf("fast path on the gap record %s: accepted %v, %v", line, accepted, err)
		}
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		if err := os.WriteFile(path, append(trail, line...), 0o600); err != nil {
			t.Fatal(err)
		}
		rep, err := Verify([]string{path}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		p := rep.Problem()
		if p == nil || p.Kind != GapRecorded || p.Seq != 4+skip || p.Line != 4 {
			t.Fatalf("skip %d: %+v, want the gap record at line 4 reported", skip, p)
		}
	}
}

// TestVerifyAcrossRecycledBlocks: a trail of several blocks, with lines
// longer than a block, verifies the same twice in a row (the second time
// on recycled blocks), with the last record's time intact (blocks are
// wiped as they are recycled), and a record altered past the first
// blocks is found at its line.
func TestVerifyAcrossRecycledBlocks(t *testing.T) {
	poisonRecycled = true
	t.Cleanup(func() { poisonRecycled = false })
	c := NewChain(nil)
	var lines [][]byte
	for i := range 3000 {
		pad := strings.Repeat("p", 1000)
		if i == 1000 || i == 1001 {
			pad = strings.Repeat("L", blockSize*5/2) // longer than a block
		}
		line, err := c.Seal(fmt.Appendf(nil, `{"timestamp":"t%04d","pad":"%s"}`, i+1, pad), "s", uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line)
	}
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(path, bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		rep, err := Verify([]string{path}, Options{})
		if err != nil || !rep.OK() {
			t.Fatalf("%+v, %v", rep, err)
		}
		if ch := rep.Chains[0]; ch.Records != 3000 || ch.FirstTime != "t0001" || ch.LastTime != "t3000" {
			t.Fatalf("%+v", ch)
		}
	}
	lines[2500] = bytes.Replace(lines[2500], []byte(`"pad":"p`), []byte(`"pad":"q`), 1)
	if err := os.WriteFile(path, bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify([]string{path}, Options{})
	if p := rep.Problem(); err != nil || p == nil || p.Kind != Altered || p.Line != 2501 || rep.Chains[0].LastTime != "t2500" {
		t.Fatalf("%+v, %v", rep, err)
	}
}
