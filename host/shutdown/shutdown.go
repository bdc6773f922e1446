// Package shutdown bounds the steps of stopping a gateway within
// server.shutdown_timeout, so that one slow step cannot take the time of
// the steps after it.
package shutdown

import (
	"context"
	"sync"
	"time"
)

// Step is one step of a shutdown; they run in the order of the constants.
type Step int

// Shutdown steps, in the order they run.
const (
	Listener  Step = iota // in-flight HTTP requests finish
	Gateway               // backend sessions close
	Audit                 // audit queues drain to their sinks
	Telemetry             // spans and metrics flush
	Plugins               // plugins shut down (sinks flush) and exit
)

// shares is the share of the overall timeout reserved for each step.
var shares = [...]float64{Listener: 0.3, Gateway: 0.15, Audit: 0.25, Telemetry: 0.1, Plugins: 0.2}

// Plan bounds each shutdown step inside the overall timeout, which starts
// with the first step asked for. A step may use what the steps before it
// left, but never the reserve of the steps after it: a sink that cannot
// drain uses up the audit step's time, not the time healthy plugins need
// to shut down cleanly, and a plugin that hangs at start cannot stretch
// shutdown beyond the overall deadline. Safe for concurrent use.
type Plan struct {
	total time.Duration
	once  sync.Once
	end   time.Time
}

// NewPlan returns the plan of a shutdown that may take total.
func NewPlan(total time.Duration) *Plan { return &Plan{total: total} }

// Step returns the context of step n; its deadline is the overall one
// less the reserve of the later steps.
func (p *Plan) Step(n Step) (context.Context, context.CancelFunc) {
	p.once.Do(func() { p.end = time.Now().Add(p.total) })
	var reserve float64
	for _, share := range shares[n+1:] {
		reserve += share
	}
	return context.WithDeadline(context.Background(), p.end.Add(-time.Duration(reserve*float64(p.total))))
}

// Run runs step n: f under the step's context. A failure goes to onError
// (nil: dropped). Meant to be deferred, one per step, in reverse order.
func (p *Plan) Run(n Step, f func(context.Context) error, onError func(error)) {
	ctx, cancel := p.Step(n)
	defer cancel()
	if err := f(ctx); err != nil && onError != nil {
		onError(err)
	}
}
