// Package auditlogtest holds the test helpers the auditlog packages share.
package auditlogtest

import (
	"testing"

	"github.com/argusmcp/argus/shared/auditlog"
)

// Sealed returns n records sealed by a chain with key, one per line.
func Sealed(f testing.TB, key []byte, n int) []byte {
	f.Helper()
	c := auditlog.NewChain(key)
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
