package verify

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/argusmcp/argus/shared/auditlog"
)

// writeChain seals sum(sizes) events into files audit.jsonl.N … .1 and
// audit.jsonl (the last size), oldest first, and returns their paths.
func writeChain(t *testing.T, dir string, key []byte, sizes ...int) []string {
	t.Helper()
	c := auditlog.NewChain(key)
	var files []string
	seq := uint64(0)
	for i, n := range sizes {
		name := filepath.Join(dir, "audit.jsonl")
		if k := len(sizes) - 1 - i; k > 0 {
			name = fmt.Sprintf("%s.%d", name, k)
		}
		var b bytes.Buffer
		for range n {
			seq++
			line, err := c.Seal(fmt.Appendf(nil, `{"event_type":"mcp_operation","n":%d}`, seq), "stream", seq)
			if err != nil {
				t.Fatal(err)
			}
			b.Write(line)
		}
		if err := os.WriteFile(name, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, name)
	}
	return files
}

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(b, []byte("\n"))
}

func writeLines(t *testing.T, path string, lines [][]byte) {
	t.Helper()
	if err := os.WriteFile(path, bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
}

// reseal recomputes the hash of line after an edit, as an attacker without
// the key could.
func reseal(t *testing.T, line []byte, key []byte) []byte {
	t.Helper()
	rec, err := auditlog.Parse(line)
	if err != nil {
		t.Fatal(err)
	}
	canon, err := auditlog.Canonical(line)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Replace(line, []byte(rec.Integrity.Hash), []byte(auditlog.Hash(key, rec.Integrity.PrevHash, canon)), 1)
}

func TestVerifyIntact(t *testing.T) {
	for _, key := range [][]byte{nil, []byte("0123456789abcdef")} {
		dir := t.TempDir()
		files := writeChain(t, dir, key, 4, 0, 5, 3)
		rep, err := verify1(t, files, key)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() || rep.Records != 12 || rep.FirstSeq != 1 || rep.LastSeq != 12 || !rep.Genesis || len(rep.Files) != 3 ||
			rep.Start != (Position{files[0], 1}) {
			t.Fatalf("report = %+v", rep)
		}
		if got, want := rep.String(), "OK: 12 records, seq 1-12, 3 files"; got != want {
			t.Fatalf("String = %q, want %q", got, want)
		}
		// The oldest file rotated away: the chain starts later.
		rep, err = verify1(t, files[1:], key)
		if err != nil || !rep.OK() || rep.Genesis || rep.FirstSeq != 5 || rep.Start != (Position{files[2], 1}) {
			t.Fatalf("without the oldest file: %+v, %v", rep, err)
		}
	}
}

// TestVerifyTampering covers each kind of tampering and checks that the
// first problem is reported with the right kind, file and line.
func TestVerifyTampering(t *testing.T) {
	key := []byte("0123456789abcdef")
	type edit func(t *testing.T, files []string)
	onLines := func(file int, f func(ls [][]byte) [][]byte) edit {
		return func(t *testing.T, files []string) {
			writeLines(t, files[file], f(readLines(t, files[file])))
		}
	}
	for _, tc := range []struct {
		name    string
		edit    edit
		kind    ProblemKind
		file    int // index in the files: audit.jsonl.2, .1, audit.jsonl
		line    int
		message string
	}{
		{"edit a field", onLines(1, func(ls [][]byte) [][]byte {
			ls[2] = bytes.Replace(ls[2], []byte(`"mcp_operation"`), []byte(`"mcp_0peration"`), 1)
			return ls
		}), Altered, 1, 3, "record altered (hash mismatch at seq 7)"},
		{"edit a field and reseal", onLines(1, func(ls [][]byte) [][]byte {
			ls[2] = reseal(t, bytes.Replace(ls[2], []byte(`"mcp_operation"`), []byte(`"mcp_0peration"`), 1), nil)
			return ls
		}), BrokenLink, 1, 4, "chain broken (prev_hash of seq 8 is not the hash of seq 7 at FILE1 line 3)"},
		{"delete a line", onLines(1, func(ls [][]byte) [][]byte { return slices.Delete(ls, 1, 2) }),
			Missing, 1, 2, "record missing (seq 6, before seq 7)"},
		{"delete lines across files", func(t *testing.T, files []string) {
			writeLines(t, files[1], readLines(t, files[1])[:2])
			writeLines(t, files[2], readLines(t, files[2])[1:])
		}, Missing, 2, 1, "records missing (seq 7-9, before seq 10)"},
		{"delete a file", func(t *testing.T, files []string) { os.WriteFile(files[1], nil, 0o600) },
			Missing, 2, 1, "records missing (seq 5-8, before seq 9)"},
		{"swap two lines", onLines(1, func(ls [][]byte) [][]byte { ls[1], ls[2] = ls[2], ls[1]; return ls }),
			Reordered, 1, 2, "record out of order (seq 7 where seq 6 was expected; seq 6 is at FILE1 line 3)"},
		{"move a line back", onLines(2, func(ls [][]byte) [][]byte { return append([][]byte{ls[2]}, append(ls[:2:2], ls[3:]...)...) }),
			Reordered, 2, 1, "record out of order (seq 11 where seq 9 was expected; seq 9 is at FILE2 line 2)"},
		{"duplicate a line", onLines(1, func(ls [][]byte) [][]byte { return slices.Insert(ls, 2, ls[1]) }),
			Duplicated, 1, 3, "record duplicated (seq 6, first at FILE1 line 2)"},
		{"duplicate a line in the next file", func(t *testing.T, files []string) {
			last := readLines(t, files[0])[3]
			writeLines(t, files[1], append([][]byte{last}, readLines(t, files[1])...))
		}, Duplicated, 1, 1, "record duplicated (seq 4, first at FILE0 line 4)"},
		{"break prev_hash and reseal", onLines(1, func(ls [][]byte) [][]byte {
			rec, _ := auditlog.Parse(ls[2])
			ls[2] = reseal(t, bytes.Replace(ls[2], []byte(rec.Integrity.PrevHash), []byte(strings.Repeat("ab", 32)), 1), nil)
			return ls
		}), BrokenLink, 1, 3, "chain broken (prev_hash of seq 7 is not the hash of seq 6 at FILE1 line 2)"},
		{"break prev_hash", onLines(1, func(ls [][]byte) [][]byte {
			rec, _ := auditlog.Parse(ls[2])
			ls[2] = bytes.Replace(ls[2], []byte(rec.Integrity.PrevHash), []byte(strings.Repeat("ab", 32)), 1)
			return ls
		}), Altered, 1, 3, "record altered (hash mismatch at seq 7)"},
		{"garbage line", onLines(0, func(ls [][]byte) [][]byte { return slices.Insert(ls, 1, []byte("hello\n")) }),
			Altered, 0, 2, `record altered (not an audit record: invalid character 'h' looking for beginning of value)`},
		{"empty line", onLines(0, func(ls [][]byte) [][]byte { return slices.Insert(ls, 1, []byte("\n")) }),
			Altered, 0, 2, `record altered (not an audit record: unexpected end of JSON input)`},
		{"torn last line", onLines(2, func(ls [][]byte) [][]byte { ls[3] = ls[3][:40]; return ls }),
			Altered, 2, 4, "record altered (incomplete last line without a newline: a crash, or a write in progress)"},
		{"integrity seq changed", onLines(1, func(ls [][]byte) [][]byte {
			ls[0] = bytes.Replace(ls[0], []byte(`"integrity":{"seq":5,`), []byte(`"integrity":{"seq":50,`), 1)
			return ls
		}), Missing, 2, 1, "records missing (seq 5-8, before seq 9)"},
		{"first record claims the genesis", func(t *testing.T, files []string) {
			ls := readLines(t, files[1])
			rec, _ := auditlog.Parse(ls[0])
			ls[0] = reseal(t, bytes.Replace(ls[0], []byte(rec.Integrity.PrevHash), []byte(auditlog.GenesisHash), 1), nil)
			writeLines(t, files[1], ls)
			os.WriteFile(files[0], nil, 0o600)
		}, BrokenLink, 1, 1, "chain broken (the genesis hash is the prev_hash of seq 5, not of seq 1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := writeChain(t, t.TempDir(), nil, 4, 4, 4)
			tc.edit(t, files)
			rep, err := verify1(t, files, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() {
				t.Fatalf("tampering not detected: %+v", rep)
			}
			p := rep.Problem
			msg := tc.message
			for i, f := range files {
				msg = strings.ReplaceAll(msg, fmt.Sprintf("FILE%d", i), f)
			}
			if p.Kind != tc.kind || p.File != files[tc.file] || p.Line != tc.line || p.Message != msg {
				t.Fatalf("problem = %s %q (%s)\nwant %s %q (%s line %d)", p.Kind, p.Message, p.Position, tc.kind, msg, files[tc.file], tc.line)
			}
			if want := fmt.Sprintf("FAIL: %s line %d: %s", files[tc.file], tc.line, msg); rep.String() != want {
				t.Fatalf("String = %q, want %q", rep.String(), want)
			}
		})
	}
	t.Run("wrong key", func(t *testing.T) {
		files := writeChain(t, t.TempDir(), key, 3)
		for _, k := range [][]byte{nil, []byte("fedcba9876543210")} {
			rep, err := verify1(t, files, k)
			if err != nil || rep.OK() || rep.Problem.Kind != Altered || rep.Problem.Line != 1 {
				t.Fatalf("Verify with key %q = %+v, %v", k, rep, err)
			}
		}
		if rep, err := verify1(t, files, key); err != nil || !rep.OK() {
			t.Fatalf("Verify with the key = %+v, %v", rep, err)
		}
	})
}

func TestVerifyUnreadable(t *testing.T) {
	files := writeChain(t, t.TempDir(), nil, 2)
	_, err := Verify(append(files, filepath.Join(t.TempDir(), "nope.jsonl")), Options{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Verify of a missing file = %v", err)
	}
	gz := filepath.Join(t.TempDir(), "bad.jsonl.gz")
	os.WriteFile(gz, []byte("not gzip"), 0o600)
	if _, err := verify1(t, []string{gz}, nil); err == nil || !strings.Contains(err.Error(), "gunzip") {
		t.Fatalf("Verify of a bad gzip = %v", err)
	}
}

func TestFilesAndGzip(t *testing.T) {
	dir := t.TempDir()
	files := writeChain(t, dir, nil, 2, 2, 2, 2, 2, 2) // audit.jsonl.5 … .1, audit.jsonl
	// Timestamped backups between the numbered ones and the current file:
	// move .2 and .1 there, one of them gzipped, one also still plain (a
	// compression in progress).
	stamp1 := filepath.Join(dir, "audit-2026-01-02T03-04-05.006.jsonl")
	stamp2 := filepath.Join(dir, "audit-2026-01-02T03-04-05.007.jsonl")
	os.Rename(files[3], stamp1)
	os.Rename(files[4], stamp2)
	b, _ := os.ReadFile(stamp1)
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(b)
	zw.Close()
	os.WriteFile(stamp1+".gz", z.Bytes(), 0o600)
	os.Remove(stamp1)
	os.WriteFile(stamp2+".gz", []byte("partial"), 0o600)
	for _, name := range []string{"audit.jsonl.0", "audit.jsonl.01", "audit.jsonl.x", "audit-garbage.jsonl", "other.jsonl.1", "audit-2026-01-02T03-04-05.007.log"} {
		os.WriteFile(filepath.Join(dir, name), []byte("x\n"), 0o600)
	}
	os.Mkdir(filepath.Join(dir, "audit.jsonl.9"), 0o700)

	got, err := auditlog.Files(files[5])
	if err != nil {
		t.Fatal(err)
	}
	want := []string{files[0], files[1], files[2], stamp1 + ".gz", stamp2, files[5]}
	if !slices.Equal(got, want) {
		t.Fatalf("Files =\n%q\nwant\n%q", got, want)
	}
	rep, err := verify1(t, got, nil)
	if err != nil || !rep.OK() || rep.Records != 12 {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
	last, err := auditlog.LastRecord(stamp1 + ".gz")
	if err != nil || !bytes.Contains(last, []byte(`"n":8`)) {
		t.Fatalf("LastRecord(gz) = %s, %v", last, err)
	}

	// Relative paths and only backups left.
	t.Chdir(dir)
	os.Remove(files[5])
	got, err = auditlog.Files("audit.jsonl")
	if err != nil || got[0] != "audit.jsonl.5" || got[len(got)-1] != filepath.Base(stamp2) {
		t.Fatalf("Files(relative) = %q, %v", got, err)
	}
	if _, err := auditlog.Files("missing.jsonl"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Files(missing) = %v", err)
	}
}

// verify1 verifies files that hold one chain.
func verify1(t *testing.T, files []string, key []byte) (ChainReport, error) {
	t.Helper()
	rep, err := Verify(files, Options{Key: key})
	if err != nil {
		return ChainReport{}, err
	}
	if len(rep.Chains) != 1 {
		t.Fatalf("%d chains, want 1: %+v", len(rep.Chains), rep)
	}
	return rep.Chains[0], nil
}
