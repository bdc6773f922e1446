package request

import (
	"context"
	"sync"
)

// AfterAnswer holds work that may wait until the client has its answer:
// what a late observer records (LateObserver) and what the router's
// backend hook records when a backend request ends. A transport that can
// send the answer before its handler returns (the lean path) puts one in
// the request's context, writes and flushes the answer, then calls Run;
// without one in the context (the SDK's path) Defer runs the work at once,
// as before.
type AfterAnswer struct {
	// Panics records a panic of the queued work, recovered so that the
	// rest still runs (nil: recovered without recording).
	Panics *Panics

	mu    sync.Mutex
	funcs []func()
	ran   bool
}

type afterAnswerKey struct{}

// WithAfterAnswer returns ctx carrying a, for Defer.
func WithAfterAnswer(ctx context.Context, a *AfterAnswer) context.Context {
	return context.WithValue(ctx, afterAnswerKey{}, a)
}

// Defer queues f on the AfterAnswer in ctx, or runs it now if there is
// none or it has run already.
func Defer(ctx context.Context, f func()) {
	if a, ok := ctx.Value(afterAnswerKey{}).(*AfterAnswer); ok && a.add(f) {
		return
	}
	f()
}

func (a *AfterAnswer) add(f func()) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ran {
		return false
	}
	a.funcs = append(a.funcs, f)
	return true
}

// Pending reports whether work is queued and Run has not run.
func (a *AfterAnswer) Pending() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return !a.ran && len(a.funcs) > 0
}

// Run runs the queued work in the order it was queued, once; what is
// deferred afterwards runs at once. A panic in one piece of work is
// recovered (and recorded in Panics) and the rest still runs.
func (a *AfterAnswer) Run() {
	a.mu.Lock()
	funcs := a.funcs
	a.funcs, a.ran = nil, true
	a.mu.Unlock()
	for _, f := range funcs {
		a.run(f)
	}
}

func (a *AfterAnswer) run(f func()) {
	defer func() {
		if v := recover(); v != nil {
			a.Panics.Recovered(v, "after answer")
		}
	}()
	f()
}

// A LateObserver's End may run after the client has its answer, when the
// transport allows it (AfterAnswer): what it records does not have to
// exist before the client sees the result, and it times the call from
// Call.Start and Call.Duration, not from when its End runs. Telemetry is
// one (spans and metrics are exported later anyway); audit is not: an
// answered call always has its audit event queued first.
type LateObserver interface {
	Observer
	EndsLate()
}
