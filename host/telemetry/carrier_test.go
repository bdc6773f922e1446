package telemetry

import (
	"context"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// TestHeaderCarrier: the W3C trace context and baggage read from HTTP
// headers through headerCarrier are what propagation.HeaderCarrier reads,
// and reading the three keys allocates nothing (it allocated three
// canonicalised key strings per request).
func TestHeaderCarrier(t *testing.T) {
	h := http.Header{}
	h.Set("traceparent", "00-"+headerTrace+"-"+clientParent+"-01")
	h.Set("tracestate", "vendor=value,other=x")
	h.Set("baggage", "tenant=acme,region=eu")
	p := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	want := p.Extract(context.Background(), propagation.HeaderCarrier(h))
	got := p.Extract(context.Background(), headerCarrier(h))
	wsc, gsc := trace.SpanContextFromContext(want), trace.SpanContextFromContext(got)
	if !gsc.IsValid() || !gsc.Equal(wsc) || gsc.TraceState().String() != "vendor=value,other=x" {
		t.Errorf("span context %v (trace state %q), want %v", gsc, gsc.TraceState(), wsc)
	}
	// Members compared one by one: a baggage's String orders them at
	// random.
	b, wb := baggage.FromContext(got), baggage.FromContext(want)
	if b.Len() != 2 || b.Len() != wb.Len() || b.Member("tenant").Value() != "acme" || b.Member("region").Value() != "eu" {
		t.Errorf("baggage %q, want %q", b, wb)
	}
	for _, m := range wb.Members() {
		if b.Member(m.Key()).Value() != m.Value() {
			t.Errorf("baggage member %s = %q, want %q", m.Key(), b.Member(m.Key()).Value(), m.Value())
		}
	}
	if n := testing.AllocsPerRun(100, func() {
		c := headerCarrier(h)
		_, _, _ = c.Get("traceparent"), c.Get("tracestate"), c.Get("baggage")
	}); n != 0 {
		t.Errorf("reading the three keys allocates %v times", n)
	}
}
