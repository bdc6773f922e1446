package telemetry

import (
	"context"
	"fmt"
	"sync"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/argusmcp/argus/host/pluginhost"
)

// PluginSpanExporter exports spans over an exporter plugin instance's
// connection with the SDK's own OTLP exporter (no span conversion of
// ours). When the plugin's process changes (a restart) the next export
// builds a new OTLP exporter over the new connection.
func PluginSpanExporter(inst *pluginhost.Instance) sdktrace.SpanExporter {
	return &spanExporter{inst: inst}
}

type spanExporter struct {
	inst *pluginhost.Instance
	mu   sync.Mutex
	exp  *otlptrace.Exporter
	done <-chan struct{}
}

func (e *spanExporter) current(ctx context.Context) (*otlptrace.Exporter, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.exp != nil && !closed(e.done) {
		return e.exp, nil
	}
	conn, err := e.inst.Exporter(ctx)
	if err != nil {
		return nil, fmt.Errorf("exporter %s: %w", e.inst.ID(), err)
	}
	if e.exp != nil {
		e.exp.Shutdown(ctx) // does not close the runtime's connection
	}
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithGRPCConn(conn.GRPC))
	if err != nil {
		return nil, fmt.Errorf("exporter %s: %w", e.inst.ID(), err)
	}
	e.exp, e.done = exp, conn.Done()
	return exp, nil
}

func (e *spanExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	exp, err := e.current(ctx)
	if err != nil {
		return err
	}
	return exp.ExportSpans(ctx, spans)
}

func (e *spanExporter) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.exp == nil {
		return nil
	}
	return e.exp.Shutdown(ctx)
}

// PluginMetricExporter is PluginSpanExporter for metrics; wrap it in a
// periodic reader.
func PluginMetricExporter(inst *pluginhost.Instance) sdkmetric.Exporter {
	return &metricExporter{inst: inst}
}

type metricExporter struct {
	inst *pluginhost.Instance
	mu   sync.Mutex
	exp  *otlpmetricgrpc.Exporter
	done <-chan struct{}
}

func (e *metricExporter) current(ctx context.Context) (*otlpmetricgrpc.Exporter, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.exp != nil && !closed(e.done) {
		return e.exp, nil
	}
	conn, err := e.inst.Exporter(ctx)
	if err != nil {
		return nil, fmt.Errorf("exporter %s: %w", e.inst.ID(), err)
	}
	if e.exp != nil {
		e.exp.Shutdown(ctx)
	}
	exp, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithGRPCConn(conn.GRPC))
	if err != nil {
		return nil, fmt.Errorf("exporter %s: %w", e.inst.ID(), err)
	}
	e.exp, e.done = exp, conn.Done()
	return exp, nil
}

// Temporality and Aggregation are the OTLP exporter's defaults
// (cumulative, default aggregations), fixed before any connection exists.
func (e *metricExporter) Temporality(k sdkmetric.InstrumentKind) metricdata.Temporality {
	return sdkmetric.DefaultTemporalitySelector(k)
}

func (e *metricExporter) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	return sdkmetric.DefaultAggregationSelector(k)
}

func (e *metricExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	exp, err := e.current(ctx)
	if err != nil {
		return err
	}
	return exp.Export(ctx, rm)
}

func (e *metricExporter) ForceFlush(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.exp == nil {
		return nil
	}
	return e.exp.ForceFlush(ctx)
}

func (e *metricExporter) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.exp == nil {
		return nil
	}
	return e.exp.Shutdown(ctx)
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
