package proctune

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestStepRisesAtOnce: one busy interval doubles the Ps, up to the
// ceiling and never past it.
func TestStepRisesAtOnce(t *testing.T) {
	f := &fitter{ceiling: 6, procs: 1}
	for _, want := range []int{2, 4, 6} {
		n, changed := f.step(0.8 * float64(f.procs))
		if !changed || n != want {
			t.Fatalf("step(busy) = %d, %v; want %d, true", n, changed, want)
		}
	}
	if n, changed := f.step(6); changed || n != 6 {
		t.Fatalf("step at the ceiling = %d, %v; want 6, false", n, changed)
	}
}

// TestStepFallsAfterQuietIntervals: only DownIntervals quiet intervals in
// a row lower the Ps, to the fewest that the busiest of them fits in at
// DownShare; a busier interval between them starts the count again.
func TestStepFallsAfterQuietIntervals(t *testing.T) {
	f := &fitter{ceiling: 16, procs: 16}
	for i := 1; i < DownIntervals; i++ {
		if n, changed := f.step(2); changed || n != 16 {
			t.Fatalf("quiet interval %d: step = %d, %v; want no change yet", i, n, changed)
		}
	}
	if n, changed := f.step(10); changed || n != 16 { // busy: not quiet, not busy enough to rise
		t.Fatalf("interrupted run of quiet intervals: step = %d, %v", n, changed)
	}
	f = &fitter{ceiling: 16, procs: 16}
	used := []float64{2.9, 1.0, 2.0}
	for i, u := range used {
		n, changed := f.step(u)
		if i < len(used)-1 {
			if changed {
				t.Fatalf("quiet interval %d changed the Ps to %d", i+1, n)
			}
			continue
		}
		// The busiest quiet interval used 2.9 cores: 2.9/0.6 = 4.83, so 5 Ps.
		if !changed || n != 5 {
			t.Fatalf("after %d quiet intervals step = %d, %v; want 5, true", DownIntervals, n, changed)
		}
	}
	idle := &fitter{ceiling: 2, procs: 2}
	var n int
	for range DownIntervals {
		n, _ = idle.step(0)
	}
	if n != 1 {
		t.Fatalf("an idle process kept %d Ps", n)
	}
}

// TestStepSteadyLoadsSettle: under any steady load the Ps change at most
// twice (down to fit, then never again), however long it lasts, and they
// end where the load neither rises nor falls. Spinning at more Ps makes
// the measured use higher: modelled as 30% more per extra P in use.
func TestStepSteadyLoadsSettle(t *testing.T) {
	for demand := 0.0; demand <= 12; demand += 0.05 {
		f := &fitter{ceiling: 12, procs: 12}
		changes := 0
		for range 200 {
			used := math.Min(demand, float64(f.procs)) * (1 + 0.3*float64(min(f.procs-1, 1)))
			if _, changed := f.step(used); changed {
				changes++
			}
		}
		if changes > 2 {
			t.Errorf("demand %.2f cores: %d changes in 200 intervals (ended at %d Ps)", demand, changes, f.procs)
		}
		if demand >= UpShare*float64(f.procs) && f.procs < f.ceiling {
			t.Errorf("demand %.2f cores settled at %d Ps, which it saturates", demand, f.procs)
		}
	}
}

// TestStepIgnoresNoEvidence: an interval without time, or a counter that
// went back, changes nothing and does not count as quiet.
func TestStepIgnoresNoEvidence(t *testing.T) {
	f := &fitter{ceiling: 2, procs: 2}
	for _, u := range []float64{math.NaN(), math.Inf(1), -1, math.NaN(), math.Inf(-1)} {
		if n, changed := f.step(u); changed || n != 2 {
			t.Fatalf("step(%v) = %d, %v", u, n, changed)
		}
	}
	if f.quiet != 0 {
		t.Fatalf("%d intervals without evidence counted as quiet", f.quiet)
	}
}

// TestMeasureTakesCoresOverWallTime: measure turns CPU time over wall
// time into cores for step: three quiet seconds at two Ps give one, a
// busy one gives two back.
func TestMeasureTakesCoresOverWallTime(t *testing.T) {
	at := time.Unix(100, 0)
	cpu := 5 * time.Second
	f := &fitter{ceiling: 2, procs: 2, lastCPU: cpu, lastAt: at}
	var set []int
	advance := func(wall time.Duration, used float64) {
		at = at.Add(wall)
		cpu += time.Duration(used * float64(wall))
		if n, changed := f.measure(cpu, at); changed {
			set = append(set, n)
		}
	}
	for range DownIntervals {
		advance(time.Second, 0.1)
	}
	advance(500*time.Millisecond, 0.9) // busy at one P, in a short interval
	advance(0, 0)                      // no time passed: no evidence
	if len(set) != 2 || set[0] != 1 || set[1] != 2 {
		t.Fatalf("GOMAXPROCS set to %v, want [1 2]", set)
	}
}

// TestAdaptLeavesAnOperatorsChoice: with GOMAXPROCS in the environment
// nothing is started and nothing changes.
func TestAdaptLeavesAnOperatorsChoice(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	Adapt(func(k string) string {
		if k == "GOMAXPROCS" {
			return "2"
		}
		return ""
	})
	time.Sleep(DownIntervals*Every + Every/2)
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Fatalf("GOMAXPROCS changed from %d to %d although the operator set it", before, got)
	}
}

// TestAdaptFitsAnIdleProcess: a real process that does nothing runs on
// one P within a few intervals of Adapt (measured by the operating
// system, in a child process so that this one keeps its Ps).
func TestAdaptFitsAnIdleProcess(t *testing.T) {
	if os.Getenv("PROCTUNE_CHILD") == "1" {
		Adapt(os.Getenv)
		deadline := time.Now().Add(3 * (DownIntervals + 2) * Every)
		for runtime.GOMAXPROCS(0) != 1 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		fmt.Printf("GOMAXPROCS=%d\n", runtime.GOMAXPROCS(0))
		return
	}
	if runtime.NumCPU() < 2 {
		t.Skip("one CPU: nothing to fit")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAdaptFitsAnIdleProcess$", "-test.count=1")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOMAXPROCS=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "PROCTUNE_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "GOMAXPROCS=1\n") {
		t.Fatalf("an idle process kept more than one P:\n%s", out)
	}
}
