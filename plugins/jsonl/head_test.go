package jsonl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/argusmcp/argus/shared/auditlog"
	auditverify "github.com/argusmcp/argus/shared/auditlog/verify"
)

// records reads every record of base and its backups, oldest first.
func records(t *testing.T, base string) [][]byte {
	t.Helper()
	files, err := auditlog.Files(base)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.SplitAfter(b, []byte("\n")) {
			if len(line) > 0 {
				out = append(out, line)
			}
		}
	}
	return out
}

// TestHeadWrittenOnSync: the head file follows the newest durable record
// in every fsync mode, and carries a mac with hmac_key.
func TestHeadWrittenOnSync(t *testing.T) {
	for _, mode := range []string{fsyncAlways, fsyncInterval, fsyncNever} {
		t.Run(mode, func(t *testing.T) {
			c := testConfig(t.TempDir())
			c.Fsync, c.Key = mode, []byte("0123456789abcdef")
			s, _ := start(t, c)
			write(t, s, padded(1, 30, 200), 7)
			if err := s.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			h, err := auditlog.ReadHead(c.File+auditlog.HeadSuffix, c.Key)
			if err != nil {
				t.Fatal(err)
			}
			if h.Seq != 30 || h.Hash != s.chain.Head() || h.Chain != s.chain.ID() || h.Chain == "" || !h.Keyed || h.File != "audit.jsonl" {
				t.Fatalf("head %+v, chain at %d %s", h, s.chain.Seq(), s.chain.Head())
			}
			if _, err := auditlog.ReadHead(c.File+auditlog.HeadSuffix, []byte("another key, 16+")); err == nil {
				t.Fatal("the head verified with another key")
			}
		})
	}
}

// TestGapRecordedOnRestart: records removed from the newest end while the
// sink was stopped are reported by an audit_gap record when it starts
// again, with the missing range; the chain's seq jumps over the range, so
// the verifier reports the records missing at the gap record.
func TestGapRecordedOnRestart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, base string)
		reason string
	}{
		{"nothing removed", func(*testing.T, string) {}, ""},
		{"last records dropped", func(t *testing.T, base string) {
			lines := bytes.SplitAfter(must(os.ReadFile(base)), []byte("\n"))
			os.WriteFile(base, bytes.Join(lines[:len(lines)-4], nil), 0o600) // 3 records and the empty tail
		}, "truncated"},
		{"newest file emptied", func(t *testing.T, base string) { os.Truncate(base, 0) }, "truncated"},
		{"newest file deleted", func(t *testing.T, base string) { os.Remove(base) }, "truncated"},
		{"newest deleted and .1 renamed", func(t *testing.T, base string) {
			os.Remove(base)
			os.Rename(base+".1", base)
		}, "truncated"},
		{"every file deleted", func(t *testing.T, base string) {
			files, _ := auditlog.Files(base)
			for _, f := range files {
				os.Remove(f)
			}
		}, "trail missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(t.TempDir())
			c.MaxBytes, c.Fsync = 4000, fsyncAlways
			s, _ := start(t, c)
			write(t, s, padded(1, 40, 300), 5)
			s.Close(context.Background())
			head, err := auditlog.ReadHead(c.File+auditlog.HeadSuffix, nil)
			if err != nil || head.Seq != 40 {
				t.Fatalf("head %+v, %v", head, err)
			}
			tc.tamper(t, c.File)
			var tail uint64
			if recs := records(t, c.File); len(recs) > 0 {
				tail = must(auditlog.Parse(recs[len(recs)-1])).Integrity.Seq
			}

			s, logs := start(t, c)
			write(t, s, padded(41, 5, 300), 5)
			s.Close(context.Background())

			var gaps []auditlog.Gap
			var gapSeq uint64
			for _, line := range records(t, c.File) {
				if g, ok := auditlog.ParseGap(line); ok {
					gaps = append(gaps, g)
					gapSeq = must(auditlog.Parse(line)).Integrity.Seq
				}
			}
			files, _ := auditlog.Files(c.File)
			rep, err := verifyChain(files, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.reason == "" {
				if len(gaps) != 0 || !rep.OK() {
					t.Fatalf("gaps %+v, verify %v", gaps, rep)
				}
				return
			}
			if len(gaps) != 1 || gaps[0].Reason != tc.reason {
				t.Fatalf("gaps %+v, want one %q\n%s", gaps, tc.reason, logs)
			}
			g := gaps[0]
			if tc.reason == "truncated" {
				if g.FirstMissing != tail+1 || g.LastMissing != 40 || g.HeadSeq != 40 || g.FoundSeq != tail || gapSeq != 41 {
					t.Fatalf("gap %+v at seq %d, want seq %d-40 missing", g, gapSeq, tail+1)
				}
				if rep.OK() || rep.Problem.Kind != auditverify.GapRecorded || rep.Problem.Seq != 41 || !strings.Contains(rep.Problem.Message, fmt.Sprintf("records missing (seq %d-40, before seq 41)", tail+1)) {
					t.Fatalf("verify: %v", rep)
				}
			} else if g.FirstMissing != 1 || g.LastMissing != 40 || gapSeq != 1 {
				t.Fatalf("gap %+v at seq %d", g, gapSeq)
			}
			if !strings.Contains(logs.String(), "recording an audit_gap event") {
				t.Fatalf("no error logged:\n%s", logs)
			}
		})
	}
}

// TestGapForgedHead: with hmac_key, a head file rewritten without the key
// (to hide a cut) is itself reported.
func TestGapForgedHead(t *testing.T) {
	c := testConfig(t.TempDir())
	c.Fsync, c.Key = fsyncAlways, []byte("0123456789abcdef")
	s, _ := start(t, c)
	write(t, s, padded(1, 10, 100), 10)
	s.Close(context.Background())
	lines := bytes.SplitAfter(must(os.ReadFile(c.File)), []byte("\n"))
	os.WriteFile(c.File, bytes.Join(lines[:6], nil), 0o600)
	rec := must(auditlog.Parse(lines[5]))
	forged := auditlog.Head{Chain: rec.Delivery.Chain, Seq: rec.Integrity.Seq, Hash: rec.Integrity.Hash}
	if err := auditlog.WriteHead(c.File+auditlog.HeadSuffix, forged, nil, false); err != nil {
		t.Fatal(err)
	}
	s, _ = start(t, c)
	s.Close(context.Background())
	recs := records(t, c.File)
	g, ok := auditlog.ParseGap(recs[len(recs)-1])
	if !ok || g.Reason != "head unreadable" || !strings.Contains(g.Detail, "no mac") {
		b, _ := json.Marshal(g)
		t.Fatalf("last record %s: gap %s", recs[len(recs)-1], b)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
