package request

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Chain is an ordered list of middlewares around a terminal handler, plus
// observers that see every call. Build it once; Run is safe for concurrent
// use.
type Chain struct {
	handler   Handler
	observers []Observer
}

// NewChain composes mws (first outermost) around terminal.
func NewChain(terminal Handler, observers []Observer, mws ...Middleware) *Chain {
	h := terminal
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return &Chain{handler: h, observers: observers}
}

// Run passes c through the chain and records its result, error, outcome
// and duration in c. It never panics: a panic anywhere in the chain becomes
// an OutcomeInternal error.
func (ch *Chain) Run(ctx context.Context, c *Call) (mcp.Result, error) {
	if c.Start.IsZero() {
		c.Start = time.Now()
	}
	for _, o := range ch.observers {
		ctx = o.Begin(ctx, c)
	}
	defer func() {
		c.Duration = time.Since(c.Start)
		for i := len(ch.observers) - 1; i >= 0; i-- {
			ch.observers[i].End(ctx, c)
		}
	}()
	c.Result, c.Err = ch.safeRun(ctx, c)
	c.Outcome = Classify(c.Result, c.Err)
	return c.Result, c.Err
}

func (ch *Chain) safeRun(ctx context.Context, c *Call) (res mcp.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, panicError(p)
		}
	}()
	return ch.handler(ctx, c)
}

func panicError(p any) *Error {
	e := Errorf(OutcomeInternal, CodeInternalError, "internal error")
	e.Err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
	return e
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

// Recover turns a panic in any later middleware or the handler into an
// internal error for this call and logs it with its stack; the process and
// every other call carry on.
func Recover(log hclog.Logger) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, c *Call) (res mcp.Result, err error) {
			defer func() {
				if p := recover(); p != nil {
					e := panicError(p)
					log.Error("recovered panic while serving request", "method", c.Method, "capability", c.Capability, "request_id", c.ID, "panic", e.Err)
					res, err = nil, e
				}
			}()
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
