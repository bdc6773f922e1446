package gctune

import (
	"runtime/debug"
	"sync"
	"time"
)

// Headroom bounds the garbage DefaultPercent lets pile up between two
// collections. At 400% the heap grows to five times the live heap before
// the collector runs: a few tens of MB for the few MB a gateway holds
// under load (3 MB live with 16 client sessions calling as fast as they
// can), but 500 MB for the 100 MB that 10,000 open client sessions hold
// (server.max_sessions' default), which is how a client that opens
// sessions could make the process's memory peak at five times what they
// need. Once DefaultPercent would let more than Headroom pile up, the
// percentage falls with the live heap, to Go's default of 100 at Headroom
// live and beyond, where the heap peaks at twice the live heap as in any
// Go program.
const Headroom = 32 << 20

// AdaptEvery is how often Adapt looks at the live heap.
const AdaptEvery = time.Second

// PercentFor is the collector's target percentage for a live heap of
// live bytes: DefaultPercent while the garbage it allows stays within
// Headroom, less for a larger heap, never under 100.
func PercentFor(live uint64) int {
	if live == 0 {
		return DefaultPercent
	}
	p := uint64(Headroom) * 100 / live
	return int(max(100, min(uint64(DefaultPercent), p)))
}

var (
	hookMu   sync.Mutex
	onChange func(from, to int, live uint64)
)

// OnChange registers f to be told of every change Adapt makes (replacing
// any earlier f), with the live heap that decided it; for a log line once
// logging is set up.
func OnChange(f func(from, to int, live uint64)) {
	hookMu.Lock()
	onChange = f
	hookMu.Unlock()
}

// Adapt keeps the collector's percentage at PercentFor of the live heap,
// looked at every AdaptEvery, for the life of the process; it does
// nothing when GOGC is set (getenv returns it), which always wins. Call it
// once, from main, after Apply.
func Adapt(getenv func(string) string) {
	if getenv("GOGC") != "" {
		return
	}
	a := &adapter{live: liveHeap, set: debug.SetGCPercent, percent: DefaultPercent}
	go func() {
		for range time.Tick(AdaptEvery) {
			a.step()
		}
	}()
}

// adapter sets the percentage (see Adapt).
type adapter struct {
	live    func() uint64 // the live heap, as of the last collection
	set     func(int) int // debug.SetGCPercent
	percent int           // the percentage in force
}

// step sets the percentage for the live heap now, if it differs from the
// one in force; it reports whether it changed it.
func (a *adapter) step() bool {
	live := a.live()
	p := PercentFor(live)
	if p == a.percent {
		return false
	}
	from := a.percent
	a.set(p)
	a.percent = p
	hookMu.Lock()
	f := onChange
	hookMu.Unlock()
	if f != nil {
		f(from, p, live)
	}
	return true
}

// liveHeap is the heap the last collection found live (0 before the
// first).
func liveHeap() uint64 { return runtimeMetric("/gc/heap/live:bytes") }
