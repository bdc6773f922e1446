package verify

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/argusmcp/argus/shared/auditlog"
	"github.com/argusmcp/argus/shared/auditlog/internal/auditlogtest"
)

// FuzzVerify: `argus audit verify` never panics on any file content and
// reports either an intact chain or a problem.
func FuzzVerify(f *testing.F) {
	three := auditlogtest.Sealed(f, nil, 3)
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
		auditlog.LastLine(bytes.NewReader(content), int64(len(content)))
	})
}
