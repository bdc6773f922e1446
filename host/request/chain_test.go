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
			ch := NewChain(tt.handler, []Observer{rec}, Auth(), Recover(hclog.NewNullLogger()))
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
	// A panic in a middleware placed before Recover is caught by Run itself.
	boom := func(Handler) Handler {
		return func(context.Context, *Call) (mcp.Result, error) { panic("early") }
	}
	rec := &recorder{}
	ch := NewChain(nil, []Observer{rec}, boom)
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
	}, nil, mw("first"), mw("second"))
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
