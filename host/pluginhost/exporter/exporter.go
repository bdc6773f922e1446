// Package exporter is the host side of the telemetry exporter plugin kind
// (blocks `exporter "<plugin>" "<instance>"`; the plugin side is
// sdk/exporter.go): OpenTelemetry span exporters and metric readers that
// speak OTLP over each exporter instance's plugin connection and follow
// its restarts. host/telemetry records; these carry what it records to
// the plugins.
package exporter

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"

	"github.com/hashicorp/go-hclog"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/pluginhost"
	"github.com/argusmcp/argus/host/telemetry"
	"github.com/argusmcp/argus/shared"
)

// generations keeps one OTLP exporter per process of an exporter plugin
// instance: the current process's exporter, rebuilt over the new
// connection after a restart (the SDK's exporter must not outlive the
// connection it was built on; the runtime owns and closes connections).
type generations[E interface{ Shutdown(context.Context) error }] struct {
	inst  *pluginhost.Instance
	build func(context.Context, *grpc.ClientConn) (E, error)

	mu   sync.Mutex
	exp  E
	have bool
	done <-chan struct{}
}

func (g *generations[E]) current(ctx context.Context) (E, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.have && !closed(g.done) {
		return g.exp, nil
	}
	var zero E
	conn, err := g.inst.Conn(ctx, shared.KindTelemetryExporter)
	if err != nil {
		return zero, fmt.Errorf("exporter %s: %w", g.inst.ID(), err)
	}
	if g.have {
		g.exp.Shutdown(ctx) // does not close the runtime's connection
	}
	exp, err := g.build(ctx, conn.GRPC())
	if err != nil {
		return zero, fmt.Errorf("exporter %s: %w", g.inst.ID(), err)
	}
	g.exp, g.have, g.done = exp, true, conn.Done()
	return exp, nil
}

func (g *generations[E]) shutdown(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.have {
		return nil
	}
	return g.exp.Shutdown(ctx)
}

// SpanExporter exports spans over an exporter plugin instance's
// connection with the SDK's own OTLP exporter (no span conversion of
// ours), following the instance across restarts.
func SpanExporter(inst *pluginhost.Instance) sdktrace.SpanExporter {
	return &spanExporter{generations[*otlptrace.Exporter]{inst: inst,
		build: func(ctx context.Context, conn *grpc.ClientConn) (*otlptrace.Exporter, error) {
			return otlptracegrpc.New(ctx, otlptracegrpc.WithGRPCConn(conn))
		}}}
}

type spanExporter struct {
	g generations[*otlptrace.Exporter]
}

func (e *spanExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	exp, err := e.g.current(ctx)
	if err != nil {
		return err
	}
	return exp.ExportSpans(ctx, spans)
}

func (e *spanExporter) Shutdown(ctx context.Context) error { return e.g.shutdown(ctx) }

// MetricExporter is SpanExporter for metrics; wrap it in a
// periodic reader.
func MetricExporter(inst *pluginhost.Instance) sdkmetric.Exporter {
	return &metricExporter{generations[*otlpmetricgrpc.Exporter]{inst: inst,
		build: func(ctx context.Context, conn *grpc.ClientConn) (*otlpmetricgrpc.Exporter, error) {
			return otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithGRPCConn(conn))
		}}}
}

type metricExporter struct {
	g generations[*otlpmetricgrpc.Exporter]
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
	exp, err := e.g.current(ctx)
	if err != nil {
		return err
	}
	return exp.Export(ctx, rm)
}

func (e *metricExporter) ForceFlush(ctx context.Context) error {
	e.g.mu.Lock()
	defer e.g.mu.Unlock()
	if !e.g.have {
		return nil
	}
	return e.g.exp.ForceFlush(ctx)
}

func (e *metricExporter) Shutdown(ctx context.Context) error { return e.g.shutdown(ctx) }

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Pipelines are the span exporters and periodic metric readers of every
// telemetry exporter instance of rt, in configuration order, for
// telemetry.Options.
func Pipelines(rt *pluginhost.Runtime) ([]sdktrace.SpanExporter, []sdkmetric.Reader) {
	var spans []sdktrace.SpanExporter
	var readers []sdkmetric.Reader
	for _, inst := range rt.OfKind(shared.KindTelemetryExporter) {
		spans = append(spans, SpanExporter(inst))
		readers = append(readers, sdkmetric.NewPeriodicReader(MetricExporter(inst)))
	}
	return spans, readers
}

// Telemetry builds the OpenTelemetry pipeline of cfg over the telemetry
// exporter instances of rt; nil when telemetry is disabled. With
// telemetry.prometheus it also returns the /metrics scrape handler. The
// service name defaults to $OTEL_SERVICE_NAME; version is Argus's.
func Telemetry(cfg config.Telemetry, rt *pluginhost.Runtime, version string, log hclog.Logger) (*telemetry.Telemetry, http.Handler, error) {
	if !cfg.Enabled {
		return nil, nil, nil
	}
	spans, readers := Pipelines(rt)
	name := cfg.ServiceName
	if name == "" {
		name = os.Getenv("OTEL_SERVICE_NAME")
	}
	var scrape http.Handler
	if cfg.Prometheus {
		reader, h, err := telemetry.PrometheusHandler()
		if err != nil {
			return nil, nil, err
		}
		readers, scrape = append(readers, reader), h
	}
	tel, err := telemetry.New(telemetry.Options{ServiceName: name, ServiceVersion: version, SpanExporters: spans, MetricReaders: readers, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	log.Info("telemetry enabled", "exporters", len(spans), "prometheus", scrape != nil)
	return tel, scrape, nil
}
