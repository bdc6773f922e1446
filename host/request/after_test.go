package request

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// lateRecorder is a recorder whose End may run after the answer.
type lateRecorder struct{ recorder }

func (*lateRecorder) EndsLate() {}

// latePanic is a LateObserver whose End panics.
type latePanic struct{}

func (latePanic) Begin(ctx context.Context, _ *Call) context.Context { return ctx }
func (latePanic) End(context.Context, *Call)                         { panic("late end") }
func (latePanic) EndsLate()                                          {}

// TestAfterAnswer: with an AfterAnswer in the context a LateObserver's End
// waits for Run, once, while the others' run with the chain; a hook's
// deferred work waits the same; without one, or once it has run,
// everything runs at once; a panic in a late End is recovered and counted
// like any observer's.
func TestAfterAnswer(t *testing.T) {
	now, late := &recorder{}, &lateRecorder{}
	panics := NewPanics(hclog.NewNullLogger())
	ch := NewChain(func(ctx context.Context, c *Call) (mcp.Result, error) {
		Defer(ctx, func() { c.Policy = "hook ran" })
		return &mcp.CallToolResult{}, nil
	}, []Observer{late, now, latePanic{}}, panics)

	a := &AfterAnswer{}
	c := &Call{Method: "tools/call"}
	if _, err := ch.Run(WithAfterAnswer(context.Background(), a), c); err != nil {
		t.Fatal(err)
	}
	if len(now.ended) != 1 || len(late.ended) != 0 || c.Policy != "" || !a.Pending() {
		t.Fatalf("before Run: now ended %d, late %d, hook %q, pending %v", len(now.ended), len(late.ended), c.Policy, a.Pending())
	}
	if panics.Count() != 0 {
		t.Fatalf("a late End ran before Run: %d panics", panics.Count())
	}
	a.Run()
	if len(late.ended) != 1 || late.outcomes[0] != OutcomeSuccess || late.ctxKey != "observed" || c.Policy != "hook ran" || a.Pending() {
		t.Fatalf("after Run: late ended %d %v ctx %v, hook %q, pending %v", len(late.ended), late.outcomes, late.ctxKey, c.Policy, a.Pending())
	}
	if panics.Count() != 1 {
		t.Fatalf("the late End's panic: %d recovered, want 1", panics.Count())
	}
	a.Run()
	if len(late.ended) != 1 || panics.Count() != 1 {
		t.Fatal("a second Run ran the work again")
	}
	Defer(WithAfterAnswer(context.Background(), a), func() { c.Policy = "after run" })
	if c.Policy != "after run" {
		t.Fatal("work deferred after Run did not run at once")
	}

	// No AfterAnswer: every End with the chain, in reverse order.
	var order []string
	ch = NewChain(func(context.Context, *Call) (mcp.Result, error) { return nil, nil },
		[]Observer{&orderLate{"late", &order}, &orderNow{"now", &order}}, nil)
	ch.Run(context.Background(), &Call{})
	if strings.Join(order, ",") != "now,late" {
		t.Fatalf("without AfterAnswer: End order %v", order)
	}
}

type orderNow struct {
	name  string
	order *[]string
}

func (o *orderNow) Begin(ctx context.Context, _ *Call) context.Context { return ctx }
func (o *orderNow) End(context.Context, *Call)                         { *o.order = append(*o.order, o.name) }

type orderLate struct {
	name  string
	order *[]string
}

func (o *orderLate) Begin(ctx context.Context, _ *Call) context.Context { return ctx }
func (o *orderLate) End(context.Context, *Call)                         { *o.order = append(*o.order, o.name) }
func (o *orderLate) EndsLate()                                          {}

// TestAfterAnswerRecoversPanics: a panic in work the backend hook defers
// (which the chain does not wrap) is recovered by Run, as the chain
// recovers it without an AfterAnswer, and the late observers' End still
// runs after it.
func TestAfterAnswerRecoversPanics(t *testing.T) {
	late := &lateRecorder{}
	panics := NewPanics(hclog.NewNullLogger())
	ch := NewChain(func(ctx context.Context, c *Call) (mcp.Result, error) {
		Defer(ctx, func() { panic("hook's late work") })
		return &mcp.CallToolResult{}, nil
	}, []Observer{late}, panics)

	// Before: no AfterAnswer, the chain recovers it.
	c := &Call{Method: "tools/call"}
	_, err := ch.Run(context.Background(), c)
	t.Logf("no AfterAnswer: err %v, panics %d, late ended %d", err, panics.Count(), len(late.ended))

	late.ended = nil
	a := &AfterAnswer{Panics: panics}
	before := panics.Count()
	c = &Call{Method: "tools/call"}
	ch.Run(WithAfterAnswer(context.Background(), a), c)
	var escaped any
	func() {
		defer func() { escaped = recover() }()
		a.Run()
	}()
	t.Logf("AfterAnswer: escaped %v, panics %d, late ended %d", escaped, panics.Count(), len(late.ended))
	if panics.Count() != before+1 {
		t.Errorf("the deferred panic was recorded %d times, want once", panics.Count()-before)
	}
	if escaped != nil || len(late.ended) != 1 {
		t.Errorf("a panic in deferred hook work escaped Run (%v) and the late End ran %d times, want 1", escaped, len(late.ended))
	}
}
