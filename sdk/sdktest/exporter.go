package sdktest

import (
	"context"
	"sync"
	"testing"
	"time"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/argusmcp/argus/sdk"
)

// Exporter configures the plugin as a telemetry exporter with config (HCL)
// and returns OTLP clients over the plugin connection; diagnostics fail
// the test.
func (h *Harness) Exporter(config string) (coltracepb.TraceServiceClient, colmetricspb.MetricsServiceClient) {
	h.t.Helper()
	h.MustConfigure(KindTelemetryExporter, config, ConfigureOptions{})
	return coltracepb.NewTraceServiceClient(h.conn.GRPC), colmetricspb.NewMetricsServiceClient(h.conn.GRPC)
}

// TraceRequest is an OTLP export request with n spans of service "sdktest".
func TraceRequest(n int) *coltracepb.ExportTraceServiceRequest {
	now := uint64(time.Now().UnixNano())
	var spans []*tracepb.Span
	for i := range n {
		spans = append(spans, &tracepb.Span{
			TraceId: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(i + 1)},
			SpanId:  []byte{1, 2, 3, 4, 5, 6, 7, byte(i + 1)},
			Name:    "tools/call echo", Kind: tracepb.Span_SPAN_KIND_SERVER,
			StartTimeUnixNano: now - 1000, EndTimeUnixNano: now,
			Attributes: []*commonpb.KeyValue{{Key: "mcp.method.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "tools/call"}}}},
		})
	}
	return &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource:   resource(),
		ScopeSpans: []*tracepb.ScopeSpans{{Scope: &commonpb.InstrumentationScope{Name: "sdktest"}, Spans: spans}},
	}}}
}

// MetricsRequest is an OTLP export request with one counter.
func MetricsRequest() *colmetricspb.ExportMetricsServiceRequest {
	now := uint64(time.Now().UnixNano())
	return &colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: []*metricspb.ResourceMetrics{{
		Resource: resource(),
		ScopeMetrics: []*metricspb.ScopeMetrics{{Scope: &commonpb.InstrumentationScope{Name: "sdktest"}, Metrics: []*metricspb.Metric{{
			Name: "argus.requests", Unit: "{request}",
			Data: &metricspb.Metric_Sum{Sum: &metricspb.Sum{
				AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE, IsMonotonic: true,
				DataPoints: []*metricspb.NumberDataPoint{{StartTimeUnixNano: now - 1000, TimeUnixNano: now, Value: &metricspb.NumberDataPoint_AsInt{AsInt: 3}}},
			}},
		}}}},
	}}}
}

func resource() *resourcepb.Resource {
	return &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "sdktest"}}}}}
}

// ExporterConformance checks that p behaves as Argus expects of a
// telemetry exporter configured with config (the HCL body of its exporter
// block; it must accept exports, for example by pointing at a test
// receiver):
//
//   - GetInfo names the plugin, protocol 1, the telemetry exporter kind;
//   - its schema is valid and config passes a dry run;
//   - trace and metric export requests over the plugin connection (the
//     standard OTLP TraceService and MetricsService) succeed, also empty
//     and concurrent ones;
//   - Shutdown succeeds.
func ExporterConformance(t *testing.T, p *sdk.Plugin, config string) {
	t.Run("Info", func(t *testing.T) { checkInfo(t, Start(t, p), p, KindTelemetryExporter) })
	t.Run("DryRun", func(t *testing.T) {
		h := Start(t, p)
		h.Schema(KindTelemetryExporter) // fails the test if invalid
		if out := h.Configure(KindTelemetryExporter, config, ConfigureOptions{DryRun: true}); out != "" {
			t.Fatalf("dry run rejected the configuration:\n%s", out)
		}
	})
	t.Run("Export", func(t *testing.T) {
		ctx := context.Background()
		h := Start(t, p)
		traces, metrics := h.Exporter(config)
		if _, err := traces.Export(ctx, TraceRequest(3)); err != nil {
			t.Fatalf("trace export: %v", err)
		}
		if _, err := traces.Export(ctx, &coltracepb.ExportTraceServiceRequest{}); err != nil {
			t.Fatalf("empty trace export: %v", err)
		}
		if _, err := metrics.Export(ctx, MetricsRequest()); err != nil {
			t.Fatalf("metrics export: %v", err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				_, err := traces.Export(ctx, TraceRequest(1))
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("concurrent export: %v", err)
			}
		}
		if err := h.Shutdown(); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	})
}
