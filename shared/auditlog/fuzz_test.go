package auditlog_test

import (
	"bytes"
	"testing"

	"github.com/argusmcp/argus/shared/auditlog"
	"github.com/argusmcp/argus/shared/auditlog/internal/auditlogtest"
)

// FuzzCheck: the record parser and hash check never panic on any line,
// and a record that checks has a canonical form that is stable.
func FuzzCheck(f *testing.F) {
	f.Add(auditlogtest.Sealed(f, nil, 1), []byte(nil))
	f.Add(auditlogtest.Sealed(f, []byte("k"), 1), []byte("k"))
	f.Add([]byte(`{"integrity":{"seq":1,"prev_hash":"`+auditlog.GenesisHash+`","hash":"x"}}`), []byte(nil))
	f.Add([]byte(`{"a":1,"a":2}`), []byte(nil))
	f.Fuzz(func(t *testing.T, line, key []byte) {
		auditlog.Parse(line)
		canon, err := auditlog.Canonical(line)
		if _, cerr := auditlog.Check(line, key); cerr == nil {
			if err != nil {
				t.Fatalf("Check accepts a record Canonical rejects: %v", err)
			}
			again, err := auditlog.Canonical(canon)
			if err != nil || !bytes.Equal(again, canon) {
				t.Fatalf("canonical form not stable: %q -> %q (%v)", canon, again, err)
			}
		}
	})
}
