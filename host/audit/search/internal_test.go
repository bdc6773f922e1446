package search

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/argusmcp/argus/shared/auditlog"
)

// TestRing: a limited query keeps the last n matches and no more, in
// order, however many pass.
func TestRing(t *testing.T) {
	for _, tc := range []struct{ n, add int }{{1, 0}, {1, 1}, {1, 5}, {3, 2}, {3, 3}, {3, 4}, {3, 10}, {4, 9}} {
		r := newRing(tc.n)
		var want []string
		for i := range tc.add {
			id := fmt.Sprint(i)
			r.add(event{line: []byte(id)})
			want = append(want, id)
		}
		want = want[max(0, len(want)-tc.n):]
		var got []string
		for _, ev := range r.events() {
			got = append(got, string(ev.line))
		}
		if !slices.Equal(got, want) || len(r.buf) > tc.n {
			t.Errorf("n=%d after %d: %v (cap %d), want %v", tc.n, tc.add, got, cap(r.buf), want)
		}
	}
}

// TestRotatedSince: after several rotations between two polls, the
// backups between the old active file and the new one are read, and the
// new one only once even when it was rotated too after being opened.
func TestRotatedSince(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "audit.jsonl")
	for name, content := range map[string]string{".3": "old\n", ".2": "A\n", ".1": "B\n", "": "C\n"} {
		os.WriteFile(base+name, []byte(content), 0o600)
	}
	stat := func(p string) os.FileInfo {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	files, err := auditlog.Files(base)
	if err != nil || len(files) != 4 {
		t.Fatal(files, err)
	}
	s := &stream{base: base, active: &lines{}, activeStat: stat(base + ".2")} // was following A
	if got := s.rotatedSince(files, stat(base)); !slices.Equal(got, []string{base + ".1"}) {
		t.Errorf("new file C: %v, want B", got)
	}
	if got := s.rotatedSince(files, stat(base+".1")); len(got) != 0 {
		t.Errorf("new file B, rotated since it was opened: %v, want nothing more", got)
	}
	s.activeStat = stat(base + ".1")
	if got := s.rotatedSince(files, stat(base)); len(got) != 0 {
		t.Errorf("one rotation: %v, want nothing more", got)
	}
}

// TestCompressedMeanwhile: a backup listed plain and gzipped by
// lumberjack before it is read is read from its .gz.
func TestCompressedMeanwhile(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "audit.jsonl")
	backup := filepath.Join(dir, "audit-2026-11-30T10-00-00.000.jsonl")
	first := `{"timestamp":"2026-11-30T10:00:00Z","event_id":"1"}` + "\n"
	os.WriteFile(backup, []byte(first), 0o600)
	os.WriteFile(base, []byte(`{"timestamp":"2026-11-30T10:00:01Z","event_id":"2"}`+"\n"), 0o600)
	var errOut bytes.Buffer
	streams, err := openStreams([]string{base}, false, &reporter{w: &errOut})
	if err != nil || len(streams) != 1 {
		t.Fatal(streams, err)
	}
	defer streams[0].close()
	// compressed after it was listed, before it is read
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(first))
	zw.Close()
	os.WriteFile(backup+".gz", gz.Bytes(), 0o600)
	os.Remove(backup)
	var got []string
	for {
		ev, ok := streams[0].next()
		if !ok {
			break
		}
		got = append(got, string(ev.line))
	}
	if len(got) != 2 || got[0]+"\n" != first || errOut.Len() > 0 {
		t.Fatalf("%q\n%s", got, errOut.String())
	}
}
