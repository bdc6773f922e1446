package transport_test

import (
	"runtime"
	"testing"
)

// TestProxiedCallAllocBudget holds the allocation budget of one proxied
// tools/call by backend transport and client revision (proxiedCallBudgets: objects and bytes,
// gateway and client together): a change that adds per-call garbage (one
// more SDK decode is 32 KiB) fails here, not only in a benchmark nobody
// reads. The race detector adds a few allocations (it empties sync.Pools
// at random), so under -race the budget is 15% wider.
func TestProxiedCallAllocBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a backend process")
	}
	for _, b := range proxiedCallBudgets {
		t.Run("backend="+b.backend+"/revision="+b.version, func(t *testing.T) {
			call := proxiedCallOf(t, b.backend, b.version)
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
			maxAllocs, maxBytes := b.allocs, b.bytes
			if raceEnabled {
				maxAllocs, maxBytes = maxAllocs*1.15, maxBytes*1.15
			}
			t.Logf("one proxied call: %.0f allocs, %.0f bytes (budget %.0f allocs, %.0f bytes)", allocs, bytes, maxAllocs, maxBytes)
			if allocs > maxAllocs {
				t.Errorf("one proxied call makes %.0f allocations, budget %.0f", allocs, maxAllocs)
			}
			if bytes > maxBytes {
				t.Errorf("one proxied call allocates %.0f bytes, budget %.0f", bytes, maxBytes)
			}
		})
	}
}
