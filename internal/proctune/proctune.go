// Package proctune fits GOMAXPROCS, the number of threads that run Go
// code at once, to the CPU a long-running argus process actually uses.
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
// CPU per proxied call fell by a quarter to a third, and the time its
// threads spent in futex calls from 12% of its profile to 3.5%.
//
// A process that needs more Ps gets them back at once: Adapt measures the
// process's CPU time (user and system, all threads) every Every and
// doubles GOMAXPROCS as soon as one interval used UpShare of the Ps in
// force, or as soon as its goroutines queue for a P (see QueuedShare). It
// lowers it only after DownWindows quiet windows in a row, to the fewest
// Ps that fit the busiest of them at DownShare. The most Ps is always the
// runtime's own default (the machine's CPUs, the CPU affinity mask or a
// container's CPU limit): at that default the runtime's automatic updates
// stay on, and below it the default is read again at every change and
// every ProbeEvery (so a limit raised while the process runs on fewer Ps
// is used from the next probe or rise on). Each change is one or two
// calls into the runtime (a stop of the world, microseconds).
package proctune

import (
	"math"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"time"
)

const (
	// Every is how often Adapt measures the process's CPU use: short, so
	// that a burst gets its Ps back within a quarter of a second.
	Every = 250 * time.Millisecond
	// UpShare: an interval that used at least this share of the Ps in
	// force (in cores: UpShare × GOMAXPROCS) doubles them. One P becomes
	// two at 0.7 cores, where a single P is already busy enough for
	// requests to queue.
	UpShare = 0.7
	// QueuedShare, QueuedOver and QueuedIntervals: QueuedIntervals
	// intervals in a row in which at least QueuedShare of the goroutines
	// that became runnable waited longer than QueuedOver for a P double
	// the Ps too, however little CPU they used: the process is waiting
	// for a processor, whether its own Ps are busy or the operating system
	// does not run its one thread. QueuedMin scheduling events (the
	// runtime samples them) make an interval count. Measured under
	// BenchmarkHop's load at one P, where a second P does not help (the
	// machine itself is busy), single intervals reached 8.5%, never two in
	// a row past 5%.
	QueuedShare     = 0.1
	QueuedOver      = time.Millisecond
	QueuedMin       = 100
	QueuedIntervals = 2
	// DownShare, DownWindow and DownWindows: after DownWindows windows
	// of DownWindow in a row (3 s) that each used less than DownShare of
	// one P fewer, GOMAXPROCS drops to the fewest Ps of which the busiest
	// of those windows used at most DownShare. The gap between DownShare
	// and UpShare keeps a steady load from moving it back and forth, and
	// the longer window keeps a load's jitter from holding it up.
	DownShare   = 0.55
	DownWindow  = time.Second
	DownWindows = 3
	// ProbeEvery is how often the runtime's default is read again while
	// GOMAXPROCS is below it, for a CPU limit that changed.
	ProbeEvery = 30 * time.Second
)

// Mode says what Adapt does in this process.
type Mode int

const (
	// Fitted: GOMAXPROCS follows the CPU used.
	Fitted Mode = iota
	// OperatorSet: a valid GOMAXPROCS is in the environment; the runtime
	// uses it and nothing is fitted.
	OperatorSet
	// OneCPU: the runtime's default is one P; nothing to fit.
	OneCPU
	// Unsupported: the operating system does not report the process's
	// CPU time; GOMAXPROCS is the runtime's default.
	Unsupported
)

func (m Mode) String() string {
	switch m {
	case Fitted:
		return "fitted to the CPU used"
	case OperatorSet:
		return "set by GOMAXPROCS"
	case OneCPU:
		return "one CPU"
	default:
		return "the runtime's default (CPU time not measured here)"
	}
}

var (
	once     sync.Once
	mode     Mode
	onChange func(from, to int, cores float64)
	hookMu   sync.Mutex
)

// Adapt starts fitting GOMAXPROCS to the process's CPU use, for the life
// of the process, and returns what it does; a second call returns the
// first's answer. It leaves GOMAXPROCS alone where the operator chose it
// (getenv returns a value the runtime accepts, a positive integer, which
// always wins, as GOGC does; any other value the runtime ignores, and so
// does Adapt), where the runtime's default is one P, and where the
// operating system does not report the process's CPU time.
func Adapt(getenv func(string) string) Mode {
	once.Do(func() { mode = start(getenv) })
	return mode
}

// OnChange registers f to be told of every change Adapt makes (replacing
// any earlier f), with the cores the interval that decided it used; for
// a log line once logging is set up.
func OnChange(f func(from, to int, cores float64)) {
	hookMu.Lock()
	onChange = f
	hookMu.Unlock()
}

func start(getenv func(string) string) Mode {
	if operatorSet(getenv("GOMAXPROCS")) {
		return OperatorSet
	}
	if runtime.GOMAXPROCS(0) <= 1 {
		return OneCPU
	}
	cpu, ok := processCPU()
	if !ok {
		return Unsupported
	}
	l := &loop{rt: realRuntime{}, queued: newQueueMeter()}
	l.f.procs = runtime.GOMAXPROCS(0)
	l.f.ceiling = l.f.procs
	l.f.lastCPU, l.f.lastAt = cpu, time.Now()
	l.f.winCPU, l.f.winAt = l.f.lastCPU, l.f.lastAt
	l.lastProbe = l.f.lastAt
	go func() {
		for range time.Tick(Every) {
			cpu, ok := processCPU()
			if !ok {
				continue
			}
			l.tick(cpu, time.Now())
		}
	}()
	return Fitted
}

// operatorSet reads a GOMAXPROCS value as the runtime does: a positive
// integer is the operator's choice; anything else the runtime ignores.
func operatorSet(v string) bool {
	n, err := strconv.ParseInt(v, 10, 32)
	return err == nil && n > 0
}

// procsRuntime is the runtime's GOMAXPROCS, behind an interface for the
// tests.
type procsRuntime interface {
	current() int
	set(n int)
	setDefault() // the runtime's default, with its automatic updates
}

type realRuntime struct{}

func (realRuntime) current() int { return runtime.GOMAXPROCS(0) }
func (realRuntime) set(n int)    { runtime.GOMAXPROCS(n) }
func (realRuntime) setDefault()  { runtime.SetDefaultGOMAXPROCS() }

// loop applies the fitter's decisions to the runtime (see Adapt).
type loop struct {
	f         fitter
	rt        procsRuntime
	queued    func() (share float64, ok bool) // since the last call; nil: not measured
	fitted    bool                            // a value below the default is in force
	queuedRun int                             // intervals in a row with goroutines queued
	lastProbe time.Time
}

// tick takes the process's CPU time so far, read at at.
func (l *loop) tick(cpu time.Duration, at time.Time) {
	cur := l.rt.current()
	if !l.fitted {
		l.f.ceiling = cur // the runtime's default, which may have followed a new limit
	}
	l.f.procs = cur
	if l.queued != nil {
		if share, ok := l.queued(); ok && share >= QueuedShare {
			l.queuedRun++
		} else {
			l.queuedRun = 0
		}
	}
	n, changed := l.f.measure(cpu, at, l.queuedRun >= QueuedIntervals)
	switch {
	case changed:
		l.apply(n, at)
	case l.fitted && at.Sub(l.lastProbe) >= ProbeEvery:
		l.apply(l.f.procs, at)
	default:
		return
	}
	if n := l.f.procs; n != cur {
		hookMu.Lock()
		f := onChange
		hookMu.Unlock()
		if f != nil {
			f(cur, n, l.f.lastUsed)
		}
	}
}

// apply runs with n Ps, or with the runtime's default if that is fewer:
// the default is read by restoring it, which also turns its automatic
// updates back on where n reaches it.
func (l *loop) apply(n int, at time.Time) {
	l.lastProbe = at
	l.rt.setDefault()
	ceiling := l.rt.current()
	l.f.ceiling = ceiling
	if n >= ceiling {
		l.fitted, l.f.procs = false, ceiling
		return
	}
	l.rt.set(n)
	l.fitted, l.f.procs = true, n
}

// fitter decides GOMAXPROCS from one interval's CPU use at a time (see
// Adapt). It holds no clock: it is given the CPU time and the time.
type fitter struct {
	ceiling int // the most Ps to run with
	procs   int // the Ps in force

	quiet int     // quiet windows in a row
	peak  float64 // the most cores used in those windows

	lastCPU  time.Duration // the process's CPU time at the last measure
	lastAt   time.Time     // when
	lastUsed float64       // the cores the last interval used
	winCPU   time.Duration // the CPU time when the current DownWindow began
	winAt    time.Time     // when it began
}

// measure takes the process's CPU time so far, read at at, and whether
// its goroutines queued for a P since the last measure, and returns the
// Ps to run with and whether that is a change: more at once after a busy
// or queued interval, fewer only after DownWindows quiet windows.
func (f *fitter) measure(cpu time.Duration, at time.Time, queued bool) (int, bool) {
	used := cores(cpu-f.lastCPU, at.Sub(f.lastAt))
	f.lastCPU, f.lastAt, f.lastUsed = cpu, at, used
	if n, changed := f.rise(used, queued); changed {
		f.winCPU, f.winAt = cpu, at
		return n, true
	}
	if queued {
		f.quiet, f.peak = 0, 0 // waiting for a P is no quiet
	}
	if at.Sub(f.winAt) < DownWindow {
		return f.procs, false
	}
	window := cores(cpu-f.winCPU, at.Sub(f.winAt))
	f.winCPU, f.winAt = cpu, at
	return f.fall(window)
}

// cores is CPU time over wall time; NaN without wall time.
func cores(cpu, wall time.Duration) float64 {
	if wall <= 0 {
		return math.NaN()
	}
	return cpu.Seconds() / wall.Seconds()
}

// rise doubles the Ps, up to the ceiling, after an interval that used
// UpShare of them or in which goroutines queued for one.
func (f *fitter) rise(used float64, queued bool) (int, bool) {
	if !valid(used) || f.procs >= f.ceiling || !(queued || used >= UpShare*float64(f.procs)) {
		return f.procs, false
	}
	f.quiet, f.peak = 0, 0
	f.procs = min(f.ceiling, 2*f.procs)
	return f.procs, true
}

// fall takes the cores one DownWindow used and lowers the Ps after
// DownWindows quiet windows in a row.
func (f *fitter) fall(used float64) (int, bool) {
	if !valid(used) {
		return f.procs, false // no evidence
	}
	if f.procs <= 1 || used >= DownShare*float64(f.procs-1) {
		f.quiet, f.peak = 0, 0
		return f.procs, false
	}
	f.quiet++
	f.peak = max(f.peak, used)
	if f.quiet < DownWindows {
		return f.procs, false
	}
	n := max(1, min(f.procs-1, int(math.Ceil(f.peak/DownShare))))
	f.quiet, f.peak = 0, 0
	f.procs = n
	return n, true
}

// valid: a measure that can be evidence (a clock or counter that went
// back, or no time at all, is none).
func valid(used float64) bool { return !math.IsNaN(used) && !math.IsInf(used, 0) && used >= 0 }

// newQueueMeter returns a function that reports, for the time since its
// last call, the share of scheduling events in which a goroutine waited
// longer than QueuedOver for a P (runtime/metrics' /sched/latencies);
// ok is false with fewer than QueuedMin events or without the metric.
func newQueueMeter() func() (float64, bool) {
	sample := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	var lastTotal, lastOver uint64
	read := func() (total, over uint64, ok bool) {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindFloat64Histogram {
			return 0, 0, false
		}
		h := sample[0].Value.Float64Histogram()
		for i, c := range h.Counts {
			total += c
			if h.Buckets[i] >= QueuedOver.Seconds() { // the bucket's lower bound
				over += c
			}
		}
		return total, over, true
	}
	lastTotal, lastOver, _ = read()
	return func() (float64, bool) {
		total, over, ok := read()
		if !ok {
			return 0, false
		}
		dt, do := total-lastTotal, over-lastOver
		lastTotal, lastOver = total, over
		if dt < QueuedMin {
			return 0, false
		}
		return float64(do) / float64(dt), true
	}
}
