// Package proctune fits GOMAXPROCS, the number of threads that run Go
// code at once, to the CPU an argus process actually uses.
//
// Why: an argus process spends most of a proxied call waiting: for the
// client's request, for its backend's answer, for a plugin. Every time a
// waiting goroutine becomes runnable while a processor (P) is idle, the Go
// scheduler wakes a second thread to look for work (a futex wake, and
// that thread spins before it sleeps again), and the goroutine itself
// often moves between threads. On a machine the gateway shares with the
// stdio backends and plugin processes it starts, that is CPU taken from
// them and latency added to the call. Measured with BenchmarkHop on a
// 2-core VM (README, Performance): at one P instead of two, the host's
// CPU per proxied call fell by a quarter to a third (bare, c=16: 158-178
// against 219-245 µs; c=1: 267-317 against 425-472 µs), the time its
// threads spent in futex calls from 12% of its profile to 3.5%, and the
// calls per second rose accordingly.
//
// A process that needs more than one P gets them back: Adapt measures
// the process's CPU use (user and system, all threads) every Every and
// doubles GOMAXPROCS, up to the runtime's own default at start-up, as
// soon as one interval finds the process using UpShare of the Ps it has;
// it lowers it only after DownIntervals quiet intervals in a row, to the
// fewest Ps that leave the busiest of them at most DownShare used. Each
// change is one call to runtime.GOMAXPROCS (a stop of the world, a few
// microseconds).
package proctune

import (
	"math"
	"runtime"
	"time"
)

const (
	// Every is how often Adapt measures the process's CPU use.
	Every = time.Second
	// UpShare: an interval that used at least this share of the Ps in
	// force (in cores: UpShare × GOMAXPROCS) doubles them at once. One P
	// therefore becomes two when the process uses 0.8 cores.
	UpShare = 0.8
	// DownShare and DownIntervals: after DownIntervals intervals in a row
	// that each used less than DownShare of one P fewer, GOMAXPROCS drops
	// to the fewest Ps of which the busiest of those intervals used at
	// most DownShare. The gap between DownShare and UpShare keeps a
	// steady load from moving it back and forth: from two Ps to one below
	// 0.6 cores (measured at two Ps, spinning included), back to two at
	// 0.8.
	DownShare     = 0.6
	DownIntervals = 3
)

// Adapt starts fitting GOMAXPROCS to the process's CPU use, for the life
// of the process; call it once, from main. It does nothing where the
// operator chose GOMAXPROCS (getenv returns it, which always wins, as
// with GOGC), where the process has one P to begin with, and where the
// operating system does not report the process's CPU time. The ceiling is
// the runtime's GOMAXPROCS at the call (the machine's CPUs, or a
// container's CPU limit); setting GOMAXPROCS from here stops the runtime
// from following later changes of that limit, as it does with an
// explicit GOMAXPROCS.
func Adapt(getenv func(string) string) {
	if getenv("GOMAXPROCS") != "" {
		return
	}
	ceiling := runtime.GOMAXPROCS(0)
	if ceiling <= 1 {
		return
	}
	if _, ok := processCPU(); !ok {
		return
	}
	cpu, _ := processCPU()
	f := &fitter{ceiling: ceiling, procs: ceiling, lastCPU: cpu, lastAt: time.Now()}
	go func() {
		for at := range time.Tick(Every) {
			cpu, _ := processCPU()
			if n, changed := f.measure(cpu, at); changed {
				runtime.GOMAXPROCS(n)
			}
		}
	}()
}

// fitter decides GOMAXPROCS from one interval's CPU use at a time (see
// Adapt). It holds no clock: step is given the cores used.
type fitter struct {
	ceiling int // the most Ps to run with
	procs   int // the Ps in force

	quiet int     // quiet intervals in a row
	peak  float64 // the most cores used in those intervals

	lastCPU time.Duration // the process's CPU time at the last measure
	lastAt  time.Time     // when
}

// measure takes the process's CPU time so far, read at at, and returns
// step's decision for the cores used since the last measure.
func (f *fitter) measure(cpu time.Duration, at time.Time) (int, bool) {
	used := (cpu - f.lastCPU).Seconds() / at.Sub(f.lastAt).Seconds()
	f.lastCPU, f.lastAt = cpu, at
	return f.step(used)
}

// step takes the cores the process used in the last interval and returns
// the Ps to run with, and whether that is a change.
func (f *fitter) step(used float64) (int, bool) {
	if math.IsNaN(used) || math.IsInf(used, 0) || used < 0 {
		return f.procs, false // no interval, or a counter that went back: no evidence
	}
	switch {
	case used >= UpShare*float64(f.procs) && f.procs < f.ceiling:
		f.quiet, f.peak = 0, 0
		f.procs = min(f.ceiling, 2*f.procs)
		return f.procs, true
	case f.procs > 1 && used < DownShare*float64(f.procs-1):
		f.quiet++
		f.peak = max(f.peak, used)
		if f.quiet < DownIntervals {
			return f.procs, false
		}
		n := max(1, min(f.procs-1, int(math.Ceil(f.peak/DownShare))))
		f.quiet, f.peak = 0, 0
		f.procs = n
		return n, true
	default:
		f.quiet, f.peak = 0, 0
		return f.procs, false
	}
}
