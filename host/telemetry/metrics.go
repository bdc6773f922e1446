package telemetry

import (
	"fmt"

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
