package request

import (
	"context"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The keys of params._meta that carry a W3C trace context (SEP-414).
const (
	MetaTraceparent = "traceparent"
	MetaTracestate  = "tracestate"
	MetaBaggage     = "baggage"
)

// WithoutTraceContext is meta without its baggage and, unless keepTrace,
// without its traceparent and tracestate: what a backend that is sent
// less than all of a trace context may see of the client's. The keys are
// matched whatever their case: SEP-414's are lower-case, but a backend
// that turns _meta into HTTP headers would read "Baggage" as baggage.
// meta itself is never changed: when it holds none of those keys it is
// returned as it is, else a copy without them, nil if nothing is left (an
// empty _meta would still be decoded by the backend).
func WithoutTraceContext(meta mcp.Meta, keepTrace bool) mcp.Meta {
	drop := func(k string) bool {
		return strings.EqualFold(k, MetaBaggage) || (!keepTrace && IsTraceContextKey(k))
	}
	found := false
	for k := range meta {
		if drop(k) {
			found = true
			break
		}
	}
	if !found {
		return meta
	}
	out := make(mcp.Meta, len(meta))
	for k, v := range meta {
		if !drop(k) {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// IsTraceContextKey reports whether k names part of a trace context in
// _meta, whatever its case.
func IsTraceContextKey(k string) bool {
	return strings.EqualFold(k, MetaTraceparent) || strings.EqualFold(k, MetaTracestate) || strings.EqualFold(k, MetaBaggage)
}

type headerInjectorKey struct{}

// WithHeaderInjector returns ctx carrying inject, which writes the trace
// context of a backend request into its HTTP headers (telemetry's CLIENT
// span's, as far as the backend's trace_propagation allows): an HTTP
// backend instrumented at its HTTP layer continues the trace from them.
func WithHeaderInjector(ctx context.Context, inject func(http.Header)) context.Context {
	return context.WithValue(ctx, headerInjectorKey{}, inject)
}

// HeaderInjector is the function WithHeaderInjector put in ctx, nil if
// none.
func HeaderInjector(ctx context.Context) func(http.Header) {
	f, _ := ctx.Value(headerInjectorKey{}).(func(http.Header))
	return f
}
