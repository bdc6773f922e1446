package main

import (
	"runtime/debug"
	"testing"
)

// TestTuneGC: without GOGC the host collects at defaultGCPercent; an
// explicit GOGC (read by the runtime at start-up) is left alone.
func TestTuneGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })

	if got := tuneGC(func(string) string { return "" }); got != defaultGCPercent {
		t.Errorf("tuneGC without GOGC = %d, want %d", got, defaultGCPercent)
	}
	if got := debug.SetGCPercent(100); got != defaultGCPercent {
		t.Errorf("GC percent in force = %d, want %d", got, defaultGCPercent)
	}

	// GOGC=150 as the runtime would have applied it at start-up.
	debug.SetGCPercent(150)
	if got := tuneGC(func(k string) string {
		if k == "GOGC" {
			return "150"
		}
		return ""
	}); got != 150 {
		t.Errorf("tuneGC with GOGC=150 = %d, want 150", got)
	}
	if got := debug.SetGCPercent(100); got != 150 {
		t.Errorf("GC percent in force = %d, want 150 (GOGC wins)", got)
	}
}
