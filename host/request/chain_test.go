package request

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// recorder is an Observer that remembers what it saw.
type recorder struct {
	began, ended []*Call
	outcomes     []Outcome
	ctxKey       any
}

type ctxKey struct{}

func (r *recorder) Begin(ctx context.Context, c *Call) context.Context {
	r.began = append(r.began, c)
	return context.WithValue(ctx, ctxKey{}, "observed")
}

func (r *recorder) End(ctx context.Context, c *Call) {
	r.ended = append(r.ended, c)
	r.outcomes = append(r.outcomes, c.Outcome)
	r.ctxKey = ctx.Value(ctxKey{})
}

func TestChainOutcomes(t *testing.T) {
	tests := []struct {
		name    string
		call    Call
		handler Handler
		want    Outcome
		code    int64
	}{
		{"success", Call{}, func(context.Context, *Call) (mcp.Result, error) {
			return &mcp.CallToolResult{}, nil
		}, OutcomeSuccess, 0},
		{"tool error", Call{}, func(context.Context, *Call) (mcp.Result, error) {
			return &mcp.CallToolResult{IsError: true}, nil
		}, OutcomeToolError, 0},
		{"backend rpc error", Call{}, func(context.Context, *Call) (mcp.Result, error) {
			return nil, fmt.Errorf("calling: %w", &jsonrpc.Error{Code: -32001, Message: "boom"})
		}, OutcomeRPCError, -32001},
		{"transport", Call{}, func(context.Context, *Call) (mcp.Result, error) {
			return nil, errors.New("connection closed")
		}, OutcomeTransport, CodeInternalError},
		{"timeout", Call{}, func(context.Context, *Call) (mcp.Result, error) {
			return nil, context.DeadlineExceeded
		}, OutcomeTimeout, CodeBackendTimeout},
		{"cancelled", Call{}, func(context.Context, *Call) (mcp.Result, error) {
			return nil, context.Canceled
		}, OutcomeCancelled, CodeRequestCancelled},
		{"not found", Call{}, func(context.Context, *Call) (mcp.Result, error) {
			return nil, Errorf(OutcomeNotFound, CodeInvalidParams, "unknown tool %q", "x")
		}, OutcomeNotFound, CodeInvalidParams},
		{"panic", Call{}, func(context.Context, *Call) (mcp.Result, error) {
			panic("kaboom")
		}, OutcomeInternal, CodeInternalError},
		{"denied", Call{AuthErr: errors.New("bad token")}, func(context.Context, *Call) (mcp.Result, error) {
			t.Error("handler reached for a denied call")
			return nil, nil
		}, OutcomeDenied, CodeUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			ch := NewChain(tt.handler, []Observer{rec}, NewPanics(hclog.NewNullLogger()), Auth())
			c := tt.call
			_, err := ch.Run(context.Background(), &c)
			if c.Outcome != tt.want {
				t.Errorf("outcome = %v, want %v (err %v)", c.Outcome, tt.want, err)
			}
			if len(rec.began) != 1 || len(rec.ended) != 1 || rec.outcomes[0] != tt.want {
				t.Errorf("observer saw begin=%d end=%d outcomes=%v", len(rec.began), len(rec.ended), rec.outcomes)
			}
			if rec.ctxKey != "observed" {
				t.Error("End did not receive the context Begin returned")
			}
			if c.Duration <= 0 || c.Start.IsZero() {
				t.Errorf("duration %v start %v", c.Duration, c.Start)
			}
			if tt.code != 0 {
				var w *jsonrpc.Error
				if !errors.As(Wire(err), &w) || w.Code != tt.code {
					t.Errorf("wire error = %v, want code %d", Wire(err), tt.code)
				}
			} else if err != nil {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestPanicInObserverPathStillRecovered(t *testing.T) {
	// A panic in the outermost middleware is caught by Run itself.
	boom := func(Handler) Handler {
		return func(context.Context, *Call) (mcp.Result, error) { panic("early") }
	}
	rec := &recorder{}
	ch := NewChain(nil, []Observer{rec}, nil, boom)
	c := &Call{}
	_, err := ch.Run(context.Background(), c)
	if c.Outcome != OutcomeInternal || err == nil || len(rec.ended) != 1 {
		t.Fatalf("outcome %v err %v ended %d", c.Outcome, err, len(rec.ended))
	}
	// The wire error does not leak the panic value or stack.
	if w := Wire(err).Error(); strings.Contains(w, "early") || strings.Contains(w, "goroutine") {
		t.Errorf("wire error leaks internals: %q", w)
	}
}

func TestMiddlewareOrder(t *testing.T) {
	var order []string
	mw := func(name string) Middleware {
		return func(next Handler) Handler {
			return func(ctx context.Context, c *Call) (mcp.Result, error) {
				order = append(order, name)
				return next(ctx, c)
			}
		}
	}
	ch := NewChain(func(context.Context, *Call) (mcp.Result, error) {
		order = append(order, "handler")
		return &mcp.CallToolResult{}, nil
	}, nil, nil, mw("first"), mw("second"))
	ch.Run(context.Background(), &Call{})
	if got := strings.Join(order, ","); got != "first,second,handler" {
		t.Errorf("order = %s", got)
	}
}

func TestOutcomeNames(t *testing.T) {
	for o := OutcomeSuccess; o <= OutcomeAuditUnavailable; o++ {
		if strings.HasPrefix(o.String(), "outcome(") {
			t.Errorf("outcome %d has no name", o)
		}
	}
	if Outcome(99).String() != "outcome(99)" {
		t.Error("unknown outcome name")
	}
}

// panicky is an Observer that panics in Begin or End.
type panicky struct{ inBegin, inEnd bool }

func (p panicky) Begin(ctx context.Context, _ *Call) context.Context {
	if p.inBegin {
		panic("begin")
	}
	return ctx
}

func (p panicky) End(context.Context, *Call) {
	if p.inEnd {
		panic("end")
	}
}

// TestObserverPanics: an observer that panics (as telemetry's Begin once
// did on params-less requests) fails the call with an internal error
// instead of ending the process; the handler is not reached, every other
// observer still sees the call exactly once, and each panic is counted
// and logged once with its stack.
func TestObserverPanics(t *testing.T) {
	for _, tt := range []struct {
		name        string
		obs         panicky
		wantOutcome Outcome
		reached     bool
	}{
		{"begin", panicky{inBegin: true}, OutcomeInternal, false},
		{"end", panicky{inEnd: true}, OutcomeSuccess, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs strings.Builder
			panics := NewPanics(hclog.New(&hclog.LoggerOptions{Output: &logs}))
			before, after := &recorder{}, &recorder{}
			reached := false
			ch := NewChain(func(context.Context, *Call) (mcp.Result, error) {
				reached = true
				return &mcp.ListToolsResult{}, nil
			}, []Observer{before, tt.obs, after}, panics)
			c := &Call{Method: "tools/list"}
			_, err := ch.Run(context.Background(), c)
			if c.Outcome != tt.wantOutcome || reached != tt.reached {
				t.Errorf("outcome %v (err %v), handler reached %v; want %v, %v", c.Outcome, err, reached, tt.wantOutcome, tt.reached)
			}
			for _, r := range []*recorder{before, after} {
				if len(r.began) != 1 || len(r.ended) != 1 || r.outcomes[0] != tt.wantOutcome {
					t.Errorf("observer saw begin=%d end=%d outcomes=%v", len(r.began), len(r.ended), r.outcomes)
				}
			}
			if panics.Count() != 1 {
				t.Errorf("counted %d panics, want 1", panics.Count())
			}
			if n := strings.Count(logs.String(), "recovered panic"); n != 1 || !strings.Contains(logs.String(), "goroutine ") {
				t.Errorf("want one log line with a stack, got %d:\n%s", n, logs.String())
			}
			if !c.Observed() {
				t.Error("Observed() = false after Run")
			}
		})
	}
}

// TestFailObservesOnce: Fail shows a call that never ran to every observer
// once, with the outcome of its error.
func TestFailObservesOnce(t *testing.T) {
	rec := &recorder{}
	ch := NewChain(func(context.Context, *Call) (mcp.Result, error) {
		t.Error("handler reached by Fail")
		return nil, nil
	}, []Observer{rec}, nil)
	c := &Call{Method: "tools/call"}
	ch.Fail(context.Background(), c, Errorf(OutcomeInternal, CodeInternalError, "internal error"))
	if len(rec.began) != 1 || len(rec.ended) != 1 || rec.outcomes[0] != OutcomeInternal || !c.Observed() {
		t.Errorf("begin=%d end=%d outcomes=%v observed=%v", len(rec.began), len(rec.ended), rec.outcomes, c.Observed())
	}
}

// TestMetaNilSafe: Meta reads _meta from any params value, including the
// typed nil pointer a request without params arrives as.
func TestMetaNilSafe(t *testing.T) {
	var typedNil *mcp.ListToolsParams
	for _, p := range []mcp.Params{nil, typedNil, (*mcp.CallToolParamsRaw)(nil), &mcp.ListToolsParams{}} {
		if m := Meta(p); m != nil {
			t.Errorf("Meta(%#v) = %v, want nil", p, m)
		}
	}
	p := &mcp.ListToolsParams{Meta: mcp.Meta{"traceparent": "x"}}
	if Meta(p)["traceparent"] != "x" {
		t.Errorf("Meta lost _meta: %v", Meta(p))
	}
}
