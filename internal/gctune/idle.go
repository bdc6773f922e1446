package gctune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Idle release: what DefaultPercent costs in memory, given back when the
// process has nothing to do.
const (
	// IdleCheckEvery is how often ReleaseWhenIdle looks at the
	// allocation rate.
	IdleCheckEvery = 10 * time.Second
	// IdleBytes is the allocation per IdleCheckEvery below which the
	// process counts as idle: a few proxied calls' worth.
	IdleBytes = 4 << 20
	// IdleChecks is how many checks in a row must find the process idle
	// before it releases: 30 s without work. Memory given back is faulted
	// in again when work returns: the host's heap regrowing under load
	// took about 3,300 page faults, and on the 2-core VM of the README's
	// figures a fault costs 15 µs (50 ms of CPU per regrowth), so a
	// gateway whose traffic pauses for 10-20 s should not pay that at
	// every burst.
	IdleChecks = 3
)

// ReleaseWhenIdle returns the heap's free memory to the operating system
// once each time the process falls idle after work: at DefaultPercent the
// heap grows to about five times the live heap under load, and without
// this the runtime would keep most of it resident for minutes after the
// load ended (the host's RSS after a burst and a minute idle: 59 MB, 31
// MB before the burst). Once IdleChecks checks in a row have found less
// than IdleBytes allocated since the check before, after one that found
// more, it runs two collections and a full scavenge (see release; a few
// milliseconds with nothing else to do); a process that stays idle is not
// touched again. It runs for the life of the process: call it once,
// from main.
func ReleaseWhenIdle() {
	r := &idleReleaser{allocs: heapAllocs, free: release, quiet: IdleBytes, checks: IdleChecks}
	r.last = r.allocs()
	go func() {
		for range time.Tick(IdleCheckEvery) {
			r.check()
		}
	}()
}

// idleReleaser decides when to release (see ReleaseWhenIdle).
type idleReleaser struct {
	allocs func() uint64 // bytes allocated since the process started
	free   func()        // return free memory to the OS
	quiet  uint64        // bytes per check below which the process is idle
	checks int           // idle checks in a row before a release (at least 1)

	last uint64 // allocs at the previous check
	busy bool   // a check found work since the last release
	idle int    // idle checks in a row since the last that found work
}

// check looks at the allocations since the previous check and releases
// if the process has just fallen idle. It reports whether it released.
func (r *idleReleaser) check() bool {
	now := r.allocs()
	delta := now - r.last
	r.last = now
	if delta >= r.quiet {
		r.busy, r.idle = true, 0
		return false
	}
	if r.idle++; !r.busy || r.idle < r.checks {
		return false
	}
	r.busy = false
	r.free()
	r.last = r.allocs() // the release's own allocations are not work
	return true
}

// release returns free memory to the OS. The first collection moves what
// sync.Pools hold (gRPC's and the JSON encoders' buffers, a few MB after
// load) into their victim caches, the second one (in FreeOSMemory) frees
// it, and FreeOSMemory then hands every free page back.
func release() {
	runtime.GC()
	debug.FreeOSMemory()
}

// heapAllocs is the cumulative bytes allocated on the heap.
func heapAllocs() uint64 { return runtimeMetric("/gc/heap/allocs:bytes") }

// runtimeMetric is the runtime metric of that name, 0 if it is not a
// uint64 one.
func runtimeMetric(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
