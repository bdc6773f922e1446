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

// clock drives a fitter through measure as the loop would: every call
// advances the time by wall and the CPU time by used cores over it.
type clock struct {
	f   *fitter
	cpu time.Duration
	at  time.Time
}

func newClock(ceiling, procs int) *clock {
	c := &clock{f: &fitter{ceiling: ceiling, procs: procs}, cpu: time.Hour, at: time.Unix(1000, 0)}
	c.f.lastCPU, c.f.lastAt, c.f.winCPU, c.f.winAt = c.cpu, c.at, c.cpu, c.at
	return c
}

func (c *clock) run(wall time.Duration, used float64, queued bool) (int, bool) {
	c.at = c.at.Add(wall)
	c.cpu += time.Duration(used * float64(wall))
	return c.f.measure(c.cpu, c.at, queued)
}

// runFor measures every Every for d at a steady use and returns the Ps in
// force and how many changes were made.
func (c *clock) runFor(d time.Duration, used float64, queued bool) (procs, changes int) {
	for t := time.Duration(0); t < d; t += Every {
		if _, changed := c.run(Every, used, queued); changed {
			changes++
		}
	}
	return c.f.procs, changes
}

// TestRisesAtOnce: one busy interval doubles the Ps, up to the ceiling
// and never past it.
func TestRisesAtOnce(t *testing.T) {
	c := newClock(6, 1)
	for _, want := range []int{2, 4, 6} {
		n, changed := c.run(Every, UpShare*float64(c.f.procs), false)
		if !changed || n != want {
			t.Fatalf("busy interval: %d, %v; want %d, true", n, changed, want)
		}
	}
	if n, changed := c.run(Every, 6, false); changed || n != 6 {
		t.Fatalf("busy at the ceiling: %d, %v; want 6, false", n, changed)
	}
	c = newClock(2, 1)
	if n, changed := c.run(Every, UpShare*0.99, false); changed || n != 1 {
		t.Fatalf("an interval just under UpShare: %d, %v; want 1, false", n, changed)
	}
}

// TestRisesWhenQueued: goroutines waiting for a P raise the Ps even when
// the process got little CPU (the operating system did not run it), and
// keep them from falling.
func TestRisesWhenQueued(t *testing.T) {
	c := newClock(4, 1)
	if n, changed := c.run(Every, 0.3, true); !changed || n != 2 {
		t.Fatalf("queued interval: %d, %v; want 2, true", n, changed)
	}
	if procs, changes := c.runFor(10*time.Second, 0.3, true); procs != 4 || changes != 1 {
		t.Fatalf("queued for 10 s: %d Ps after %d changes; want 4 after 1", procs, changes)
	}
}

// TestFallsAfterQuietWindows: only DownWindows quiet windows in a row
// lower the Ps, to the fewest that the busiest of them fits in at
// DownShare; a busy window in between starts the count again, and a busy
// moment within a window does not.
func TestFallsAfterQuietWindows(t *testing.T) {
	c := newClock(16, 16)
	quiet := DownShare*15 - 0.5
	if procs, changes := c.runFor(time.Duration(DownWindows-1)*DownWindow, quiet, false); changes != 0 || procs != 16 {
		t.Fatalf("%d quiet windows changed the Ps to %d", DownWindows-1, procs)
	}
	if procs, changes := c.runFor(DownWindow, DownShare*15+0.5, false); changes != 0 || procs != 16 {
		t.Fatalf("a busy window changed the Ps to %d", procs)
	}
	if procs, changes := c.runFor(time.Duration(DownWindows-1)*DownWindow, quiet, false); changes != 0 || procs != 16 {
		t.Fatalf("the quiet count did not start again after a busy window: %d Ps", procs)
	}
	if procs, changes := c.runFor(DownWindow, quiet, false); changes != 1 || procs != int(math.Ceil(quiet/DownShare)) {
		t.Fatalf("after %d quiet windows: %d Ps in %d changes; want %d in 1", DownWindows, procs, changes, int(math.Ceil(quiet/DownShare)))
	}

	// A busier quarter in every window (0.6 cores among three of 0.3):
	// the windows average 0.375 cores, quiet at two Ps, so it falls to
	// one, and the busier quarters, under UpShare of one P, keep it there.
	c = newClock(2, 2)
	for range DownWindows {
		c.run(Every, 0.3, false)
		c.run(Every, 0.3, false)
		c.run(Every, 0.3, false)
		c.run(Every, 0.6, false)
	}
	if c.f.procs != 1 {
		t.Fatalf("windows of 0.375 cores with a busier quarter kept %d Ps", c.f.procs)
	}

	idle := newClock(2, 2)
	if procs, changes := idle.runFor(time.Duration(DownWindows)*DownWindow, 0, false); procs != 1 || changes != 1 {
		t.Fatalf("an idle process: %d Ps after %d changes; want 1 after 1", procs, changes)
	}
	if procs, changes := idle.runFor(time.Minute, 0, false); procs != 1 || changes != 0 {
		t.Fatalf("an idle process at one P: %d Ps after %d more changes", procs, changes)
	}
}

// TestQuietCountStartsAfterARise: quiet windows before a rise do not
// count towards the next fall.
func TestQuietCountStartsAfterARise(t *testing.T) {
	c := newClock(4, 4)
	c.runFor(time.Duration(DownWindows-1)*DownWindow, 0.1, false)
	c.f.procs = 2 // as if the runtime's default had moved
	c.run(Every, 2, false)
	if c.f.procs != 4 {
		t.Fatalf("busy interval at 2 Ps: %d, want 4", c.f.procs)
	}
	if procs, changes := c.runFor(time.Duration(DownWindows-1)*DownWindow, 0.1, false); changes != 0 {
		t.Fatalf("fell to %d Ps within %d quiet windows of a rise", procs, DownWindows-1)
	}
}

// TestSteadyLoadsSettle: under any steady load the Ps change at most
// twice (down to fit, then never again), however long it lasts, and they
// end where the load does not saturate them. More Ps make the measured use
// higher (idle threads spin): modelled as 30% more at two Ps or more.
func TestSteadyLoadsSettle(t *testing.T) {
	for demand := 0.0; demand <= 12; demand += 0.05 {
		c := newClock(12, 12)
		changes := 0
		for range 800 {
			used := math.Min(demand, float64(c.f.procs))
			if c.f.procs > 1 {
				used *= 1.3
			}
			if _, changed := c.run(Every, used, false); changed {
				changes++
			}
		}
		if changes > 2 {
			t.Errorf("demand %.2f cores: %d changes in 200 s (ended at %d Ps)", demand, changes, c.f.procs)
		}
		if demand >= UpShare*float64(c.f.procs) && c.f.procs < c.f.ceiling {
			t.Errorf("demand %.2f cores settled at %d Ps, which it saturates", demand, c.f.procs)
		}
	}
}

// TestIgnoresNoEvidence: an interval without time, or a counter that went
// back, changes nothing and does not count as quiet.
func TestIgnoresNoEvidence(t *testing.T) {
	f := &fitter{ceiling: 2, procs: 1}
	for _, u := range []float64{math.NaN(), math.Inf(1), -1, math.Inf(-1)} {
		if n, changed := f.rise(u, false); changed || n != 1 {
			t.Fatalf("rise(%v) = %d, %v", u, n, changed)
		}
	}
	f.procs = 2
	for _, u := range []float64{math.NaN(), math.Inf(1), -1, math.NaN(), math.Inf(-1)} {
		if n, changed := f.fall(u); changed || n != 2 {
			t.Fatalf("fall(%v) = %d, %v", u, n, changed)
		}
	}
	if f.quiet != 0 {
		t.Fatalf("%d windows without evidence counted as quiet", f.quiet)
	}
	c := newClock(2, 2)
	if n, changed := c.run(0, 5, false); changed || n != 2 {
		t.Fatalf("an interval of no time: %d, %v", n, changed)
	}
}

// fakeRuntime is GOMAXPROCS with a default that follows a CPU limit while
// no value is set, as the runtime's does.
type fakeRuntime struct {
	limit, procs int
	custom       bool
	calls        []string
}

func (r *fakeRuntime) current() int {
	if !r.custom {
		r.procs = r.limit
	}
	return r.procs
}
func (r *fakeRuntime) set(n int) {
	r.procs, r.custom = n, true
	r.calls = append(r.calls, fmt.Sprint("set ", n))
}
func (r *fakeRuntime) setDefault() {
	r.procs, r.custom = r.limit, false
	r.calls = append(r.calls, "default")
}

func newLoop(rt *fakeRuntime) (*loop, func(used float64)) {
	l := &loop{rt: rt}
	l.f.procs, l.f.ceiling = rt.current(), rt.current()
	cpu, at := time.Hour, time.Unix(1000, 0)
	l.f.lastCPU, l.f.lastAt, l.f.winCPU, l.f.winAt, l.lastProbe = cpu, at, cpu, at, at
	return l, func(used float64) {
		at = at.Add(Every)
		cpu += time.Duration(used * float64(Every))
		l.tick(cpu, at)
	}
}

// TestLoopFollowsTheCPULimit: the loop never sets more Ps than the
// runtime's default, which it reads again at every change: a limit that
// fell while it was busy at the default is not exceeded when it falls,
// one that rose while it was fitted low is reached when it rises, and at
// the default the runtime's own updates are back on.
func TestLoopFollowsTheCPULimit(t *testing.T) {
	rt := &fakeRuntime{limit: 8}
	_, tick := newLoop(rt)
	rt.limit = 2 // the container's limit falls while busy
	for range 4 * DownWindows {
		tick(1.0) // quiet for 8 Ps, not for 2
	}
	if got := rt.current(); got != 2 || rt.custom {
		t.Fatalf("after the limit fell to 2: GOMAXPROCS %d (custom %v), calls %v", got, rt.custom, rt.calls)
	}

	rt = &fakeRuntime{limit: 2}
	l, tick := newLoop(rt)
	for range 4 * DownWindows {
		tick(0.1)
	}
	if rt.current() != 1 || !rt.custom {
		t.Fatalf("idle: GOMAXPROCS %d (custom %v), want 1 set by the loop", rt.current(), rt.custom)
	}
	rt.limit = 8 // the limit rises while fitted low
	tick(0.9)    // busy at one P
	tick(1.9)    // busy at two
	if rt.current() != 4 || !rt.custom {
		t.Fatalf("after two busy intervals: GOMAXPROCS %d (custom %v), want 4; calls %v", rt.current(), rt.custom, rt.calls)
	}
	tick(3.5)
	if rt.current() != 8 || rt.custom || l.fitted {
		t.Fatalf("busy at 4 Ps: GOMAXPROCS %d (custom %v), want the default 8 with its updates on", rt.current(), rt.custom)
	}
}

// TestLoopProbesTheDefaultWhileFitted: below the default, the default is
// read again every ProbeEvery, so a limit that falls below the fitted
// value is not exceeded for longer than that.
func TestLoopProbesTheDefaultWhileFitted(t *testing.T) {
	rt := &fakeRuntime{limit: 16}
	_, tick := newLoop(rt)
	for range 4 * DownWindows {
		tick(4) // fits 8 Ps
	}
	if rt.current() != 8 {
		t.Fatalf("4 cores used: %d Ps, want 8", rt.current())
	}
	rt.limit = 2
	for range int(ProbeEvery / Every) {
		tick(4.5) // neither quiet nor busy at 8 Ps: only the probe can see the new limit
	}
	if got := rt.current(); got != 2 {
		t.Fatalf("a ProbeEvery after the limit fell to 2: %d Ps; calls %v", got, rt.calls)
	}
}

// TestLoopTellsOfChanges: OnChange hears every change, with the cores the
// deciding interval used.
func TestLoopTellsOfChanges(t *testing.T) {
	var heard []string
	OnChange(func(from, to int, cores float64) {
		heard = append(heard, fmt.Sprintf("%d->%d at %.1f", from, to, cores))
	})
	t.Cleanup(func() { OnChange(nil) })
	rt := &fakeRuntime{limit: 2}
	_, tick := newLoop(rt)
	for range 4 * DownWindows {
		tick(0.1)
	}
	tick(0.8)
	if want := "[2->1 at 0.1 1->2 at 0.8]"; fmt.Sprint(heard) != want {
		t.Fatalf("heard %v, want %s", heard, want)
	}
}

// TestStartModes: a GOMAXPROCS the runtime accepts is the operator's and
// nothing is started; one it ignores is ignored here too.
func TestStartModes(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "GOMAXPROCS" {
				return v
			}
			return ""
		}
	}
	for _, v := range []string{"1", "2", "64"} {
		if m := start(env(v)); m != OperatorSet {
			t.Errorf("GOMAXPROCS=%q: %v, want %v", v, m, OperatorSet)
		}
	}
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("one P: the other modes are not reached")
	}
	// The ones the runtime ignores would start a fitter here; that is
	// checked in a child process (TestAdaptFitsAnIdleProcess).
	for _, v := range []string{"abc", "0", "-1", " 2", "2.5"} {
		if operatorSet(v) {
			t.Errorf("GOMAXPROCS=%q counted as the operator's choice", v)
		}
	}
}

// TestAdaptFitsAnIdleProcess: a real process that does nothing runs on
// one P within a few seconds of Adapt (measured by the operating system,
// in a child process so that this one keeps its Ps), also with a
// GOMAXPROCS the runtime ignores.
func TestAdaptFitsAnIdleProcess(t *testing.T) {
	if os.Getenv("PROCTUNE_CHILD") == "1" {
		fmt.Printf("mode=%v\n", Adapt(os.Getenv))
		deadline := time.Now().Add(20 * time.Second)
		for runtime.GOMAXPROCS(0) != 1 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		fmt.Printf("GOMAXPROCS=%d\n", runtime.GOMAXPROCS(0))
		return
	}
	if runtime.NumCPU() < 2 {
		t.Skip("one CPU: nothing to fit")
	}
	for _, env := range []string{"", "GOMAXPROCS=abc"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestAdaptFitsAnIdleProcess$", "-test.count=1")
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "GOMAXPROCS=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, "PROCTUNE_CHILD=1")
		if env != "" {
			cmd.Env = append(cmd.Env, env)
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child (%s): %v\n%s", env, err, out)
		}
		if !strings.Contains(string(out), "mode="+Fitted.String()) || !strings.Contains(string(out), "GOMAXPROCS=1\n") {
			t.Fatalf("an idle process (%s) was not fitted to one P:\n%s", env, out)
		}
	}
}

// TestLoopRisesWhenQueuedInARow: goroutines that wait for a P in
// QueuedIntervals intervals in a row raise the Ps; a single such interval,
// one with too few events to count, or one below QueuedShare do not.
func TestLoopRisesWhenQueuedInARow(t *testing.T) {
	rt := &fakeRuntime{limit: 2}
	l, tick := newLoop(rt)
	for range 4 * DownWindows {
		tick(0.1)
	}
	if rt.current() != 1 {
		t.Fatalf("idle: %d Ps, want 1", rt.current())
	}
	type reading struct {
		share float64
		ok    bool
	}
	next := reading{}
	l.queued = func() (float64, bool) { return next.share, next.ok }
	for _, r := range []reading{{0.5, true}, {0.5, false}, {0.5, true}, {QueuedShare / 2, true}, {0.5, true}} {
		next = r
		tick(0.2)
		if rt.current() != 1 {
			t.Fatalf("after a queued interval %+v not preceded by another: %d Ps", r, rt.current())
		}
	}
	next = reading{QueuedShare, true}
	tick(0.2)
	if rt.current() != 2 {
		t.Fatalf("two queued intervals in a row: %d Ps, want 2", rt.current())
	}
}
