package telemetry

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// metricSet holds the request instruments.
type metricSet struct {
	requests metric.Int64Counter     // argus.requests
	duration metric.Float64Histogram // argus.request.duration
	serverOp metric.Float64Histogram // mcp.server.operation.duration
	clientOp metric.Float64Histogram // mcp.client.operation.duration
}

func newMetricSet(m metric.Meter) (*metricSet, error) {
	var s metricSet
	var err error
	if s.requests, err = m.Int64Counter("argus.requests",
		metric.WithDescription("MCP requests served, by tool (capability), backend and success."),
		metric.WithUnit("{request}")); err != nil {
		return nil, fmt.Errorf("telemetry: argus.requests: %w", err)
	}
	if s.duration, err = m.Float64Histogram("argus.request.duration",
		metric.WithDescription("Time to serve an MCP request, by tool (capability) and backend."),
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(requestBuckets...)); err != nil {
		return nil, fmt.Errorf("telemetry: argus.request.duration: %w", err)
	}
	if s.serverOp, err = m.Float64Histogram("mcp.server.operation.duration",
		metric.WithDescription("MCP request duration as seen by the server (OpenTelemetry MCP semantic conventions)."),
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(semconvBuckets...)); err != nil {
		return nil, fmt.Errorf("telemetry: mcp.server.operation.duration: %w", err)
	}
	if s.clientOp, err = m.Float64Histogram("mcp.client.operation.duration",
		metric.WithDescription("MCP request duration as seen by the client, here Argus calling a backend (OpenTelemetry MCP semantic conventions)."),
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(semconvBuckets...)); err != nil {
		return nil, fmt.Errorf("telemetry: mcp.client.operation.duration: %w", err)
	}
	return &s, nil
}

// registerSpanCounts registers argus.telemetry.spans.exported and
// argus.telemetry.spans.dropped (exporter; reason queue_full or
// export_failed), observed from the span processors' counts.
func (t *Telemetry) registerSpanCounts(m metric.Meter) error {
	exported, err := m.Int64ObservableCounter("argus.telemetry.spans.exported",
		metric.WithDescription("Spans a telemetry exporter took, by exporter."),
		metric.WithUnit("{span}"))
	if err != nil {
		return fmt.Errorf("telemetry: argus.telemetry.spans.exported: %w", err)
	}
	dropped, err := m.Int64ObservableCounter("argus.telemetry.spans.dropped",
		metric.WithDescription("Spans that never reached a telemetry exporter, by exporter and reason: queue_full (the exporter fell behind), export_failed (in or behind an export that failed)."),
		metric.WithUnit("{span}"))
	if err != nil {
		return fmt.Errorf("telemetry: argus.telemetry.spans.dropped: %w", err)
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, c := range t.SpanCounts() {
			exp := attribute.String("exporter", c.Exporter)
			o.ObserveInt64(exported, int64(c.Exported), metric.WithAttributes(exp))
			o.ObserveInt64(dropped, int64(c.Dropped), metric.WithAttributes(exp, attribute.String("reason", "queue_full")))
			o.ObserveInt64(dropped, int64(c.Lost), metric.WithAttributes(exp, attribute.String("reason", "export_failed")))
		}
		return nil
	}, exported, dropped)
	if err != nil {
		return fmt.Errorf("telemetry: span counts: %w", err)
	}
	return nil
}
