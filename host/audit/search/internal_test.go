package search

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
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

// TestRotatedAfter: after several rotations between two polls, the
// backups between the old active file and the new one are read, the
// others closed.
func TestRotatedAfter(t *testing.T) {
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
	paths := func(files []trailFile) (out []string) {
		for _, f := range files {
			out = append(out, f.path)
		}
		return out
	}
	for _, tc := range []struct {
		following string // the file the old active file became
		want      []string
	}{
		{".2", []string{base + ".1"}}, // two rotations
		{".1", nil},                   // one
		{".9", nil},                   // gone: nothing read again
	} {
		files, err := openTrail(base, &reporter{w: io.Discard})
		if err != nil || len(files) != 4 {
			t.Fatal(files, err)
		}
		s := &stream{base: base, active: &lines{}, activeStat: stat(base + ".3")}
		if tc.following != ".9" {
			s.activeStat = stat(base + tc.following)
		} else {
			os.WriteFile(base+".9", nil, 0o600)
			s.activeStat = stat(base + ".9")
		}
		got := s.rotatedAfter(files[:3])
		if !slices.Equal(paths(got), tc.want) {
			t.Errorf("following %s: %v, want %v", tc.following, paths(got), tc.want)
		}
		for _, f := range files[:3] {
			if _, err := f.f.Stat(); (err == nil) != slices.Contains(tc.want, f.path) {
				t.Errorf("following %s: %s open = %v, want open only if returned", tc.following, f.path, err == nil)
			}
		}
		closeTrail(files)
	}
}

// TestNumberedRotationWhileReading: the numbered rotation renames every
// backup; a trail rotated after it was opened and before its backups
// are read still has each event read once, in order.
func TestNumberedRotationWhileReading(t *testing.T) {
	line := func(n int) string {
		return fmt.Sprintf(`{"timestamp":"2026-11-30T10:00:%02dZ","event_id":"%d"}`, n, n) + "\n"
	}
	for _, follow := range []bool{false, true} {
		base := filepath.Join(t.TempDir(), "audit.jsonl")
		for name, n := range map[string]int{".3": 0, ".2": 1, ".1": 2, "": 3} {
			os.WriteFile(base+name, []byte(line(n)), 0o600)
		}
		var errOut bytes.Buffer
		streams, err := openStreams([]string{base}, follow, &reporter{w: &errOut})
		if err != nil || len(streams) != 1 {
			t.Fatal(streams, err)
		}
		// rotated before anything is read (.3 dropped: backup_count 3)
		for _, r := range [][2]string{{".2", ".3"}, {".1", ".2"}, {"", ".1"}} {
			if err := os.Rename(base+r[0], base+r[1]); err != nil {
				t.Fatal(err)
			}
		}
		os.WriteFile(base, []byte(line(4)), 0o600)
		var got []string
		for {
			ev, ok := streams[0].next()
			if !ok {
				break
			}
			got = append(got, string(ev.line)+"\n")
		}
		streams[0].close()
		if want := []string{line(0), line(1), line(2), line(3)}; !slices.Equal(got, want) || errOut.Len() > 0 {
			t.Fatalf("follow=%v: %q, want %q\n%s", follow, got, want, errOut.String())
		}
	}
}

// TestCompressedMeanwhile: a backup listed plain and gzipped by
// lumberjack (the plain file removed) before it is read is read from the
// file opened when it was listed.
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
