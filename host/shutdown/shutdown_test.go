package shutdown

import (
	"testing"
	"time"
)

// TestStepDeadlines: each step ends before the reserve of the later ones,
// the last at the overall deadline, all measured from the first step.
func TestStepDeadlines(t *testing.T) {
	p := NewPlan(10 * time.Second)
	before := time.Now()
	var prev time.Time
	for n := Listener; n <= Plugins; n++ {
		ctx, cancel := p.Step(n)
		d, ok := ctx.Deadline()
		cancel()
		if !ok || !d.After(prev) {
			t.Fatalf("step %d: deadline %v not after the previous %v", n, d, prev)
		}
		prev = d
	}
	if got := prev.Sub(before); got < 10*time.Second || got > 11*time.Second {
		t.Errorf("last step ends %v after the first, want 10s", got)
	}
	ctx, cancel := p.Step(Listener)
	defer cancel()
	if d, _ := ctx.Deadline(); d.Sub(before) > 3100*time.Millisecond {
		t.Errorf("listener step may take %v of 10s, want its 30%% share", d.Sub(before))
	}
}
