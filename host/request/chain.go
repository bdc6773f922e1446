package request

import (
	"context"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Chain is an ordered list of middlewares around a terminal handler, plus
// observers that see every call. Build it once; Run is safe for concurrent
// use.
type Chain struct {
	handler   Handler
	observers []Observer
	panics    *Panics
}

// NewChain composes mws (first outermost) around terminal. Panics in any
// of them, or in an observer, are recovered and recorded in panics (which
// may be nil).
func NewChain(terminal Handler, observers []Observer, panics *Panics, mws ...Middleware) *Chain {
	h := terminal
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return &Chain{handler: h, observers: observers, panics: panics}
}

// Run passes c through the chain and records its result, error, outcome
// and duration in c. It never panics: a panic anywhere in the chain or in
// an observer's Begin becomes an OutcomeInternal error that every
// observer's End sees; a panic in one observer's End does not keep the
// others from theirs. A LateObserver's End is deferred to the
// AfterAnswer in ctx, if there is one (Defer).
func (ch *Chain) Run(ctx context.Context, c *Call) (mcp.Result, error) {
	return ch.run(ctx, c, ch.handler)
}

// Fail records a call that failed with err before it could run (for
// example because serving it panicked outside the chain): every observer
// sees it once, as it would see a call that ran. Like Run, it never
// panics.
func (ch *Chain) Fail(ctx context.Context, c *Call, err error) {
	ch.run(ctx, c, func(context.Context, *Call) (mcp.Result, error) { return nil, err })
}

func (ch *Chain) run(ctx context.Context, c *Call, h Handler) (mcp.Result, error) {
	if c.Start.IsZero() {
		c.Start = time.Now()
	}
	c.observed = true
	var failed error
	for _, o := range ch.observers {
		var err error
		ctx, err = ch.begin(ctx, o, c)
		if failed == nil {
			failed = err
		}
	}
	if failed != nil {
		c.Result, c.Err = nil, failed
	} else {
		c.Result, c.Err = ch.safeRun(ctx, c, h)
	}
	c.Outcome = Classify(c.Result, c.Err)
	c.Duration = time.Since(c.Start)
	for i := len(ch.observers) - 1; i >= 0; i-- {
		if o, ok := ch.observers[i].(LateObserver); ok {
			Defer(ctx, func() { ch.end(ctx, o, c) })
			continue
		}
		ch.end(ctx, ch.observers[i], c)
	}
	return c.Result, c.Err
}

func (ch *Chain) begin(ctx context.Context, o Observer, c *Call) (out context.Context, err error) {
	defer func() {
		if v := recover(); v != nil {
			out, err = ctx, ch.panics.Recovered(v, "observer begin", callKV(c)...)
		}
	}()
	return o.Begin(ctx, c), nil
}

func (ch *Chain) end(ctx context.Context, o Observer, c *Call) {
	defer func() {
		if v := recover(); v != nil {
			ch.panics.Recovered(v, "observer end", callKV(c)...)
		}
	}()
	o.End(ctx, c)
}

func (ch *Chain) safeRun(ctx context.Context, c *Call, h Handler) (res mcp.Result, err error) {
	defer func() {
		if v := recover(); v != nil {
			res, err = nil, ch.panics.Recovered(v, "request chain", callKV(c)...)
		}
	}()
	return h(ctx, c)
}

func callKV(c *Call) []any {
	return []any{"method", Clip(c.Method, 256), "capability", Clip(c.Capability, 256), "request_id", c.ID}
}

// Auth denies calls whose transport reported failed authentication, before
// any later middleware or backend is involved.
func Auth() Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, c *Call) (mcp.Result, error) {
			if c.AuthErr != nil {
				return nil, &Error{Outcome: OutcomeDenied, Wire: unauthorizedWire(), Err: c.AuthErr}
			}
			return next(ctx, c)
		}
	}
}

// Await holds every call until ready is closed or the call's context ends.
// serve uses it to keep calls, whose audit records and log lines may echo
// any configured value, waiting until every secret is known (plugins read
// their configuration in the background at start-up).
func Await(ready <-chan struct{}) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, c *Call) (mcp.Result, error) {
			select {
			case <-ready:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return next(ctx, c)
		}
	}
}
