package telemetry

import (
	"context"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// TestSamplerFromEnvironment: the standard OTEL_TRACES_SAMPLER variables
// choose which calls are traced (the README's way to trace a share of
// them), a client's sampled trace context is followed by the parent-based
// samplers, the backend is sent the span context either way, and the
// metrics count every call whatever is sampled.
func TestSamplerFromEnvironment(t *testing.T) {
	sampledParent := map[string]any{"traceparent": "00-" + clientTrace + "-" + clientParent + "-01"}
	for _, tt := range []struct {
		name, sampler, arg string
		meta               map[string]any
		spans              int
	}{
		{"default: every call", "", "", nil, 2},
		{"always_off", "always_off", "", nil, 0},
		{"a ratio of 0", "parentbased_traceidratio", "0", nil, 0},
		{"a ratio of 0, the client's trace sampled", "parentbased_traceidratio", "0", sampledParent, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("OTEL_TRACES_SAMPLER", tt.sampler)
			t.Setenv("OTEL_TRACES_SAMPLER_ARG", tt.arg)
			f := newFixture(t)
			var backendMeta map[string]any
			f.run(t, toolCall(tt.meta, nil), &backendMeta, &mcp.CallToolResult{}, nil)
			if got := len(f.spans.GetSpans()); got != tt.spans {
				t.Errorf("%d spans exported, want %d", got, tt.spans)
			}
			if tp, _ := backendMeta["traceparent"].(string); len(tp) != 55 {
				t.Errorf("backend traceparent %q", tp)
			}
			var rm metricdata.ResourceMetrics
			if err := f.reader.Collect(context.Background(), &rm); err != nil {
				t.Fatal(err)
			}
			var calls int64
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "argus.requests" {
						for _, dp := range sum.DataPoints {
							calls += dp.Value
						}
					}
				}
			}
			if calls != 1 {
				t.Errorf("argus.requests counted %d calls, want 1", calls)
			}
		})
	}
}
