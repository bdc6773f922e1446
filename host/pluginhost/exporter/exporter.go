// Package exporter is the host side of the telemetry exporter plugin kind
// (blocks `exporter "<plugin>" "<instance>"`; the plugin side is
// sdk/exporter.go): OpenTelemetry span exporters and metric readers that
// speak OTLP over each exporter instance's plugin connection and follow
// its restarts. host/telemetry records; these carry what it records to
// the plugins.
package exporter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hashicorp/go-hclog"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/pluginhost"
	"github.com/argusmcp/argus/host/telemetry"
	"github.com/argusmcp/argus/host/telemetry/otlpwire"
	"github.com/argusmcp/argus/shared"
	"github.com/argusmcp/argus/shared/rawproto"
)

// generations keeps one OTLP metric exporter per process of an exporter plugin
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
// connection as OTLP ExportTraceServiceRequests, following the instance
// across restarts. The request is encoded by host/telemetry/otlpwire (what
// the SDK's OTLP exporter would send, without building it as protobuf
// structs first) and sent as its bytes (shared/rawproto): a plugin
// receives exactly what the SDK's exporter sent it before.
func SpanExporter(inst *pluginhost.Instance) sdktrace.SpanExporter {
	return &spanExporter{inst: inst, stop: make(chan struct{})}
}

type spanExporter struct {
	inst *pluginhost.Instance

	stopOnce sync.Once
	stop     chan struct{}
}

// Name is the exporter instance's id (exporter.<name>), as its spans'
// counts are labelled in metrics and the status.
func (e *spanExporter) Name() string { return e.inst.ID() }

// requestBufs are the buffers requests are encoded in: a batch's is about
// 600 bytes a span. In a pool rather than kept, so that an idle host
// gives the memory back; one over maxKeptRequest is not kept at all.
var requestBufs sync.Pool

const maxKeptRequest = 1 << 20

// ExportSpans sends spans in one request. When the plugin's process ends
// while the request is on its way, the request goes once more to the
// process that replaces it; any other failure is the caller's (the
// batcher drops the batch and reports it).
func (e *spanExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	select {
	case <-e.stop:
		return errSpanExporterShutdown
	default:
	}
	var buf []byte
	if p, ok := requestBufs.Get().(*[]byte); ok {
		buf = *p
	}
	req := &rawproto.Message{Bytes: otlpwire.AppendRequest(buf[:0], spans)}
	if len(req.Bytes) == 0 {
		requestBufs.Put(&req.Bytes)
		return nil
	}
	var err error
	var dead uint64 // the generation that died under the last attempt
	for attempt := 0; attempt < 2; attempt++ {
		var gen pluginhost.Generation
		if gen, err = e.conn(ctx, dead); err != nil {
			break
		}
		var resp coltracepb.ExportTraceServiceResponse
		err = gen.GRPC().Invoke(ctx, coltracepb.TraceService_Export_FullMethodName, req, &resp, grpc.ForceCodecV2(rawproto.Codec()))
		if err == nil {
			// gRPC has sent the bytes and the plugin has taken them: the
			// buffer is free again. After a failure it may still hold
			// them, and the buffer is left to the garbage collector.
			if cap(req.Bytes) <= maxKeptRequest {
				requestBufs.Put(&req.Bytes)
			}
			if ps := resp.GetPartialSuccess(); ps != nil && (ps.GetRejectedSpans() != 0 || ps.GetErrorMessage() != "") {
				return fmt.Errorf("exporter %s: %d spans rejected: %s", e.inst.ID(), ps.GetRejectedSpans(), ps.GetErrorMessage())
			}
			return nil
		}
		if !diedUnder(ctx, gen, err) {
			break
		}
		dead = gen.Number()
	}
	return fmt.Errorf("exporter %s: %d spans not exported: %w", e.inst.ID(), len(spans), err)
}

// conn is the instance's current generation, once it is not the dead
// one: the runtime notices an exit a moment after the connection breaks.
func (e *spanExporter) conn(ctx context.Context, dead uint64) (pluginhost.Generation, error) {
	for {
		gen, err := e.inst.Conn(ctx, shared.KindTelemetryExporter)
		if err != nil || gen.Number() != dead {
			return gen, err
		}
		select {
		case <-ctx.Done():
			return gen, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// diedUnder tells whether a call that failed with err failed because the
// generation's process ended: the connection broke (Unavailable) or was
// closed by the runtime stopping the process (Canceled while ctx is not),
// and the process is seen to exit within a second.
func diedUnder(ctx context.Context, gen pluginhost.Generation, err error) bool {
	switch status.Code(err) {
	case codes.Unavailable:
	case codes.Canceled:
		if ctx.Err() != nil {
			return false
		}
	default:
		return false
	}
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-gen.Done():
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

var errSpanExporterShutdown = errors.New("span exporter is shut down")

// Shutdown ends exporting; the runtime owns and closes the connection.
func (e *spanExporter) Shutdown(context.Context) error {
	e.stopOnce.Do(func() { close(e.stop) })
	return nil
}

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
