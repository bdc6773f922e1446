package verify

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/argusmcp/argus/shared/auditlog"
)

// writeTrail seals sum(sizes) events of chain id into name.N … name.1,
// name (the last size), and writes name.head at the newest record. It
// returns the files, oldest first.
func writeTrail(t *testing.T, dir, name, id string, key []byte, sizes ...int) []string {
	t.Helper()
	c := auditlog.NewChain(key)
	c.SetID(id)
	var files []string
	for i, n := range sizes {
		path := filepath.Join(dir, name)
		if k := len(sizes) - 1 - i; k > 0 {
			path = fmt.Sprintf("%s.%d", path, k)
		}
		var b bytes.Buffer
		for range n {
			line, err := c.Seal(fmt.Appendf(nil, `{"timestamp":"2026-01-01T00:00:%02d.000000+00:00","event_type":"mcp_operation","n":%d}`, c.Seq()%60, c.Seq()+1), "stream", c.Seq()+1)
			if err != nil {
				t.Fatal(err)
			}
			b.Write(line)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, path)
	}
	h := auditlog.Head{Chain: id, Seq: c.Seq(), Hash: c.Head(), Time: time.Now(), File: name}
	if err := auditlog.WriteHead(filepath.Join(dir, name+auditlog.HeadSuffix), h, key, false); err != nil {
		t.Fatal(err)
	}
	return files
}

func gzipFileTo(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(b)
	zw.Close()
	if err := os.WriteFile(dst, z.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(src)
}

func permutations(s []string) [][]string {
	if len(s) <= 1 {
		return [][]string{append([]string(nil), s...)}
	}
	var out [][]string
	for i := range s {
		rest := append(append([]string(nil), s[:i]...), s[i+1:]...)
		for _, p := range permutations(rest) {
			out = append(out, append([]string{s[i]}, p...))
		}
	}
	return out
}

// TestVerifyAnyOrder: every ordering of a trail's files verifies, with
// numbered, timestamped and gzipped backups mixed, and the head matches.
func TestVerifyAnyOrder(t *testing.T) {
	dir := t.TempDir()
	files := writeTrail(t, dir, "audit.jsonl", "c1", nil, 3, 4, 2, 5, 3)
	// .4 stays numbered, .3 becomes a gzipped numbered backup, .2 a
	// timestamped one, .1 a gzipped timestamped one.
	gzipFileTo(t, files[1], files[1]+".gz")
	stamped := filepath.Join(dir, "audit-2026-01-02T03-04-05.006.jsonl")
	os.Rename(files[2], stamped)
	gzipFileTo(t, files[3], filepath.Join(dir, "audit-2026-01-02T03-04-05.007.jsonl.gz"))
	trail := []string{files[0], files[1] + ".gz", stamped, filepath.Join(dir, "audit-2026-01-02T03-04-05.007.jsonl.gz"), files[4]}
	perms := permutations(trail)
	if len(perms) != 120 {
		t.Fatalf("%d permutations", len(perms))
	}
	for _, p := range perms {
		rep, err := Verify(p, Options{FindHeads: true})
		if err != nil || !rep.OK() || len(rep.Chains) != 1 {
			t.Fatalf("Verify(%q) = %+v, %v", p, rep, err)
		}
		c := rep.Chains[0]
		if c.Records != 17 || c.FirstSeq != 1 || c.LastSeq != 17 || !c.Genesis || c.Head == nil || c.Head.Result != "matches" ||
			strings.Join(c.Files, " ") != strings.Join(trail, " ") || c.ID != "c1" || c.FirstTime == "" || c.LastTime == "" {
			t.Fatalf("Verify(%q) = %+v", p, c)
		}
	}
	// The directory, and a pattern, the way a person types them.
	for _, args := range [][]string{{dir}, {filepath.Join(dir, "*")}, {filepath.Join(dir, "audit*")}} {
		in, err := Collect(args)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := VerifyInputs(in, Options{FindHeads: true})
		if err != nil || !rep.OK() || len(rep.Chains) != 1 || rep.Chains[0].Records != 17 || rep.Chains[0].Head.Result != "matches" {
			t.Fatalf("VerifyInputs(%q) = %+v, %v", args, rep, err)
		}
	}
}

// TestVerifyTwoChains: two replicas' trails in one directory are told
// apart by their chain ids and verified each on its own.
func TestVerifyTwoChains(t *testing.T) {
	dir := t.TempDir()
	a := writeTrail(t, dir, "a.jsonl", "chain-a", nil, 4, 4, 4)
	b := writeTrail(t, dir, "b.jsonl", "chain-b", nil, 5, 5)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not an audit file\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "a.jsonl.lock"), nil, 0o600)
	in, err := Collect([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyInputs(in, Options{FindHeads: true})
	if err != nil || !rep.OK() || len(rep.Chains) != 2 || len(rep.Skipped) != 1 {
		t.Fatalf("report %+v, %v", rep, err)
	}
	for _, c := range rep.Chains {
		want := map[string]int{"chain-a": 12, "chain-b": 10}[c.ID]
		if c.Records != want || c.Head == nil || c.Head.Result != "matches" || !c.Genesis {
			t.Fatalf("chain %+v", c)
		}
	}
	// A problem in one chain leaves the other intact.
	ls := readLines(t, b[0])
	writeLines(t, b[0], append(ls[:1:1], ls[2:]...))
	rep, err = VerifyInputs(in, Options{FindHeads: true})
	if err != nil || rep.OK() {
		t.Fatalf("report %+v, %v", rep, err)
	}
	for _, c := range rep.Chains {
		if c.ID == "chain-a" && !c.OK() || c.ID == "chain-b" && (c.OK() || c.Problem.Kind != Missing || c.Problem.File != b[0]) {
			t.Fatalf("chain %s: %v", c.ID, c)
		}
	}
	_ = a
}

// TestVerifyHead: removing the newest records is reported against the
// head file, in every way the issue lists.
func TestVerifyHead(t *testing.T) {
	key := []byte("0123456789abcdef")
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, files []string)
		kind   ProblemKind
		msg    string
	}{
		{"intact", func(*testing.T, []string) {}, "", ""},
		{"last records dropped", func(t *testing.T, files []string) {
			ls := readLines(t, files[2])
			writeLines(t, files[2], ls[:len(ls)-3])
		}, Truncated, "records missing at the end (seq 11-12)"},
		{"last record dropped", func(t *testing.T, files []string) {
			ls := readLines(t, files[2])
			writeLines(t, files[2], ls[:len(ls)-2])
		}, Truncated, "record missing at the end (seq 12)"},
		{"newest file emptied", func(t *testing.T, files []string) { os.Truncate(files[2], 0) }, Truncated, "records missing at the end (seq 9-12)"},
		{"newest file deleted", func(t *testing.T, files []string) { os.Remove(files[2]) }, Truncated, "records missing at the end (seq 9-12)"},
		{"newest deleted, .1 renamed", func(t *testing.T, files []string) {
			os.Remove(files[2])
			os.Rename(files[1], files[2])
		}, Truncated, "records missing at the end (seq 9-12)"},
		{"newest record replaced", func(t *testing.T, files []string) {
			ls := readLines(t, files[2])
			c := auditlog.NewChain(key)
			if _, err := c.Resume(ls[len(ls)-3]); err != nil {
				t.Fatal(err)
			}
			line, _ := c.Seal([]byte(`{"event_type":"forged"}`), "stream", 12)
			writeLines(t, files[2], append(ls[:len(ls)-2], line))
		}, HeadMismatch, "record replaced (seq 12 is not the record the head file"},
		{"head forged without the key", func(t *testing.T, files []string) {
			ls := readLines(t, files[2])
			writeLines(t, files[2], ls[:len(ls)-3])
			rec, _ := auditlog.Parse(ls[len(ls)-4])
			auditlog.WriteHead(filepath.Join(filepath.Dir(files[2]), "audit.jsonl.head"), auditlog.Head{Chain: "c", Seq: rec.Integrity.Seq, Hash: rec.Integrity.Hash}, nil, false)
		}, HeadMismatch, "head file unusable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			files := writeTrail(t, dir, "audit.jsonl", "c", key, 4, 4, 4)
			tc.tamper(t, files)
			in, err := Collect([]string{filepath.Join(dir, "audit.jsonl*")})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := VerifyInputs(in, Options{Key: key})
			if err != nil || len(rep.Chains) != 1 {
				t.Fatalf("%+v, %v", rep, err)
			}
			c := rep.Chains[0]
			if tc.kind == "" {
				if !rep.OK() || c.Head.Result != "matches" {
					t.Fatalf("%v, head %+v", c, c.Head)
				}
				return
			}
			if rep.OK() || c.Problem.Kind != tc.kind || !strings.Contains(c.Problem.Message, tc.msg) {
				t.Fatalf("%v, want %s %q", c, tc.kind, tc.msg)
			}
		})
	}
	t.Run("no head", func(t *testing.T) {
		dir := t.TempDir()
		files := writeTrail(t, dir, "audit.jsonl", "c", nil, 4)
		os.Remove(files[0] + auditlog.HeadSuffix)
		rep, err := Verify(files, Options{FindHeads: true})
		if err != nil || !rep.OK() || rep.Chains[0].Head != nil {
			t.Fatalf("%+v, %v", rep, err)
		}
		if _, err := Verify(files, Options{Heads: []string{files[0] + auditlog.HeadSuffix}}); err == nil {
			t.Fatal("a missing -head file is no error")
		}
	})
}
