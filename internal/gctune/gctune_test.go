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
