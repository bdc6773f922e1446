package gctune

import (
	"runtime/debug"
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
