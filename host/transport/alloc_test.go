package transport_test

import (
	"runtime"
	"testing"
)

// TestProxiedCallAllocBudget holds the allocation budget of one proxied
// tools/call (proxiedCallAllocsBudget objects, proxiedCallBytesBudget
// bytes, gateway and client together): a change that adds per-call
// garbage fails here, not only in a benchmark nobody reads.
func TestProxiedCallAllocBudget(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	if testing.Short() {
		t.Skip("starts a backend process")
	}
	call := proxiedCall(t)
	for range 50 {
		call()
	}
	const runs = 300
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		call()
	}
	runtime.ReadMemStats(&after)
	allocs := float64(after.Mallocs-before.Mallocs) / runs
	bytes := float64(after.TotalAlloc-before.TotalAlloc) / runs
	t.Logf("one proxied call: %.0f allocs, %.0f bytes (budget %d allocs, %d bytes)", allocs, bytes, proxiedCallAllocsBudget, proxiedCallBytesBudget)
	if allocs > proxiedCallAllocsBudget {
		t.Errorf("one proxied call makes %.0f allocations, budget %d", allocs, proxiedCallAllocsBudget)
	}
	if bytes > proxiedCallBytesBudget {
		t.Errorf("one proxied call allocates %.0f bytes, budget %d", bytes, proxiedCallBytesBudget)
	}
}
