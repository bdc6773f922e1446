package verify

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/argusmcp/argus/shared/auditlog"
	"github.com/argusmcp/argus/shared/auditlog/fastcanon"
)

// TestVerifyReportsGapRecord: an audit_gap record in the chain is
// reported with its range, whether it stands where the records went
// missing or in a chain that is otherwise whole (the worker marks it on
// the fast path, the chain walk reads it).
func TestVerifyReportsGapRecord(t *testing.T) {
	for _, skip := range []uint64{0, 2} {
		c := auditlog.NewChain(nil)
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
		gap := auditlog.Gap{Reason: "truncated", FirstMissing: 4, LastMissing: 3 + skip, Detail: "cut"}
		if skip == 0 {
			gap.FirstMissing, gap.LastMissing = 0, 0
		}
		line, err := c.Seal(auditlog.GapEvent(gap, time.Now()), "s", 4)
		if err != nil {
			t.Fatal(err)
		}
		var fc fastcanon.Canonicaliser
		if rec, ok := fc.Record(bytes.TrimSuffix(line, []byte("\n"))); !ok || !rec.Gap {
			t.Fatalf("fast path on the gap record %s: accepted %v, gap %v", line, ok, rec.Gap)
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
	c := auditlog.NewChain(nil)
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
