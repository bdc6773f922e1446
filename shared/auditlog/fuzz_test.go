package auditlog

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// sealed returns n records sealed by a chain with key, one per line.
func sealed(f *testing.F, key []byte, n int) []byte {
	f.Helper()
	c := NewChain(key)
	var out []byte
	for i := range n {
		rec, err := c.Seal([]byte(`{"event_type":"mcp_operation","n":`+string(rune('0'+i))+`,"s":"\u00e9\"x"}`), "s", uint64(i+1))
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, rec...)
	}
	return out
}

// FuzzCheck: the record parser and hash check never panic on any line,
// and a record that checks has a canonical form that is stable.
func FuzzCheck(f *testing.F) {
	f.Add(sealed(f, nil, 1), []byte(nil))
	f.Add(sealed(f, []byte("k"), 1), []byte("k"))
	f.Add([]byte(`{"integrity":{"seq":1,"prev_hash":"`+GenesisHash+`","hash":"x"}}`), []byte(nil))
	f.Add([]byte(`{"a":1,"a":2}`), []byte(nil))
	f.Fuzz(func(t *testing.T, line, key []byte) {
		Parse(line)
		canon, err := Canonical(line)
		if _, cerr := Check(line, key); cerr == nil {
			if err != nil {
				t.Fatalf("Check accepts a record Canonical rejects: %v", err)
			}
			again, err := Canonical(canon)
			if err != nil || !bytes.Equal(again, canon) {
				t.Fatalf("canonical form not stable: %q -> %q (%v)", canon, again, err)
			}
		}
	})
}

// FuzzVerify: `argus audit verify` never panics on any file content and
// reports either an intact chain or a problem.
func FuzzVerify(f *testing.F) {
	three := sealed(f, nil, 3)
	f.Add(three)
	f.Add(three[:len(three)-5])
	f.Add(bytes.Replace(three, []byte(`"n":1`), []byte(`"n":7`), 1))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, content []byte) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		rep, err := Verify([]string{path}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		records := 0
		for _, c := range rep.Chains {
			records += c.Records
		}
		if rep.Problem() == nil && records != bytes.Count(content, []byte("\n")) {
			t.Fatalf("intact chain of %d records in %d lines", records, bytes.Count(content, []byte("\n")))
		}
		LastLine(bytes.NewReader(content), int64(len(content)))
	})
}
