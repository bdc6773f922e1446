package gctune

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"testing"
)

// TestApply: without GOGC the host collects at DefaultPercent; an
// explicit GOGC (read by the runtime at start-up) is left alone.
func TestApply(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })

	if got := Apply(func(string) string { return "" }); got != DefaultPercent {
		t.Errorf("Apply without GOGC = %d, want %d", got, DefaultPercent)
	}
	if got := debug.SetGCPercent(100); got != DefaultPercent {
		t.Errorf("GC percent in force = %d, want %d", got, DefaultPercent)
	}

	// GOGC=150 as the runtime would have applied it at start-up.
	debug.SetGCPercent(150)
	if got := Apply(func(k string) string {
		if k == "GOGC" {
			return "150"
		}
		return ""
	}); got != 150 {
		t.Errorf("Apply with GOGC=150 = %d, want 150", got)
	}
	if got := debug.SetGCPercent(100); got != 150 {
		t.Errorf("GC percent in force = %d, want 150 (GOGC wins)", got)
	}
}

// TestIdleRelease: free memory goes back to the OS once each time the
// process falls idle after work, not while it works and not again while
// it stays idle; start-up counts as work.
func TestIdleRelease(t *testing.T) {
	var allocated uint64
	released := 0
	r := &idleReleaser{allocs: func() uint64 { return allocated }, free: func() { released++ }, quiet: 100, checks: 1}
	step := func(alloc uint64, wantRelease bool) {
		t.Helper()
		allocated += alloc
		if got := r.check(); got != wantRelease {
			t.Fatalf("after allocating %d: released %v, want %v", alloc, got, wantRelease)
		}
	}
	step(1000, false) // start-up
	step(10, true)    // idle after it
	step(10, false)   // still idle
	step(0, false)
	step(500, false) // load
	step(100, false) // the threshold is work
	step(99, true)   // idle again
	step(99, false)
	if released != 2 {
		t.Fatalf("released %d times, want 2", released)
	}
}

// TestHeapAllocs: the runtime metric ReleaseWhenIdle reads exists and
// grows with allocation.
func TestHeapAllocs(t *testing.T) {
	before := heapAllocs()
	sink = make([]byte, 1<<20)
	if after := heapAllocs(); after < before+1<<20 {
		t.Fatalf("heap allocations went from %d to %d after allocating 1 MiB", before, after)
	}
}

var sink []byte

// TestIdleReleaseWaitsForIdleChecks: with IdleChecks checks required, a
// pause shorter than that between bursts releases nothing; a longer one
// releases once.
func TestIdleReleaseWaitsForIdleChecks(t *testing.T) {
	var allocated uint64
	released := 0
	r := &idleReleaser{allocs: func() uint64 { return allocated }, free: func() { released++ }, quiet: 100, checks: IdleChecks}
	step := func(alloc uint64, wantRelease bool) {
		t.Helper()
		allocated += alloc
		if got := r.check(); got != wantRelease {
			t.Fatalf("after allocating %d (released %d so far): released %v, want %v", alloc, released, got, wantRelease)
		}
	}
	for range 3 { // bursts with pauses one check short of idle
		step(1000, false)
		for range IdleChecks - 1 {
			step(0, false)
		}
	}
	step(1000, false)
	for range IdleChecks - 1 {
		step(0, false)
	}
	step(0, true)  // IdleChecks idle checks in a row
	step(0, false) // and only once
	step(0, false)
	if released != 1 {
		t.Fatalf("released %d times, want 1", released)
	}
}

// TestPercentFor: DefaultPercent while the garbage it allows stays within
// Headroom; then less, never under Go's default.
func TestPercentFor(t *testing.T) {
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, DefaultPercent},
		{3 << 20, DefaultPercent}, // a gateway under load
		{Headroom / 4, DefaultPercent},
		{Headroom / 2, 200},
		{Headroom, 100},
		{100 << 20, 100}, // 10,000 open sessions
	} {
		if got := PercentFor(tc.live); got != tc.want {
			t.Errorf("PercentFor(%d MiB) = %d, want %d", tc.live>>20, got, tc.want)
		}
	}
}

// TestAdapt: the percentage follows the live heap, set only when it
// changes, and each change is told.
func TestAdapt(t *testing.T) {
	var live uint64
	var set []int
	a := &adapter{live: func() uint64 { return live }, set: func(p int) int { set = append(set, p); return 0 }, percent: DefaultPercent}
	var told []string
	OnChange(func(from, to int, l uint64) { told = append(told, fmt.Sprintf("%d->%d@%dMiB", from, to, l>>20)) })
	t.Cleanup(func() { OnChange(nil) })
	for _, mib := range []uint64{3, 3, 64, 64, 16, 4} {
		live = mib << 20
		a.step()
	}
	if want := []int{100, 200, DefaultPercent}; !slices.Equal(set, want) {
		t.Errorf("set %v, want %v", set, want)
	}
	if want := []string{"400->100@64MiB", "100->200@16MiB", "200->400@4MiB"}; !slices.Equal(told, want) {
		t.Errorf("told %v, want %v", told, want)
	}
}

// TestLiveHeap: the runtime metric Adapt reads exists once a collection
// has run.
func TestLiveHeap(t *testing.T) {
	runtime.GC()
	if liveHeap() == 0 {
		t.Fatal("/gc/heap/live:bytes is 0 after a collection")
	}
}
