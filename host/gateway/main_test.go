package gateway_test

import (
	"os"
	"testing"

	"github.com/argusmcp/argus/internal/testbin"
)

// TestMain removes the binaries internal/testbin built for the end-to-end
// tests and benchmarks once they have all run.
func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}
