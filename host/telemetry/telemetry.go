// Package telemetry turns every MCP request into OpenTelemetry spans and
// metrics: one SERVER span per request (continuing the client's trace from
// HTTP headers or params._meta), one CLIENT span per backend call (its
// context injected into the backend request's _meta), and request
// metrics. It is a request.Observer; when telemetry is disabled it is not
// in the chain at all.
//
// Telemetry records; where the data goes is configuration: Options
// carries the SDK span exporters and metric readers. For exporter plugins
// the host builds them with host/pluginhost/exporter, which speaks OTLP
// over each plugin instance's connection and follows its restarts.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// DefaultServiceName is used when neither the configuration nor
// OTEL_SERVICE_NAME names the service.
const DefaultServiceName = "argus-mcp"

// Instrumentation scope.
const scopeName = "github.com/argusmcp/argus"

// Options configure Telemetry.
type Options struct {
	ServiceName    string
	ServiceVersion string
	// SpanExporters each receive finished spans through their own batching
	// processor (see batcher: which drops rather than block a request when
	// an exporter falls behind). None: spans are not recorded.
	SpanExporters []sdktrace.SpanExporter
	// MetricReaders collect metrics (periodic readers over exporters, or a
	// manual reader in tests). None: metrics are not recorded.
	MetricReaders []sdkmetric.Reader
	// Logger receives export errors, rate-limited.
	Logger hclog.Logger
}

// Telemetry owns the tracer and meter providers. Shutdown flushes them.
type Telemetry struct {
	tp         *sdktrace.TracerProvider
	mp         *sdkmetric.MeterProvider
	tracer     trace.Tracer
	meter      metric.Meter
	propagator propagation.TextMapPropagator

	requests *metricSet
	batchers []*batcher // one per span exporter
	attrs    attrCache
	servers  sync.Map // backend URL → its server.address and server.port
}

// Buckets for the semantic-convention MCP operation histograms (seconds).
var semconvBuckets = []float64{0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300}

// Buckets for argus.request.duration (seconds): finer at the low end, where
// a gateway hop lives.
var requestBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// New builds the providers. The propagator is W3C trace context plus
// baggage.
func New(o Options) (*Telemetry, error) {
	if o.ServiceName == "" {
		o.ServiceName = DefaultServiceName
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", o.ServiceName),
		attribute.String("service.version", o.ServiceVersion),
	))
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	topts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithRawSpanLimits(spanLimits())}
	var batchers []*batcher
	for i, e := range o.SpanExporters {
		b := processorFor(e, i)
		batchers = append(batchers, b)
		topts = append(topts, sdktrace.WithSpanProcessor(b))
	}
	mopts := []sdkmetric.Option{sdkmetric.WithResource(res)}
	for _, r := range o.MetricReaders {
		mopts = append(mopts, sdkmetric.WithReader(r))
	}
	t := &Telemetry{
		tp:         sdktrace.NewTracerProvider(topts...),
		mp:         sdkmetric.NewMeterProvider(mopts...),
		propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		batchers:   batchers,
	}
	t.tracer = t.tp.Tracer(scopeName)
	t.meter = t.mp.Meter(scopeName)
	if t.requests, err = newMetricSet(t.meter); err != nil {
		return nil, err
	}
	if err := t.registerSpanCounts(t.meter); err != nil {
		return nil, err
	}
	return t, nil
}

// SpanCounts reports, for each span exporter in Options' order, how many
// spans it took and how many were dropped or lost on the way; none when
// t is nil (telemetry disabled).
func (t *Telemetry) SpanCounts() []SpanCounts {
	counts := []SpanCounts{}
	if t != nil {
		for _, b := range t.batchers {
			counts = append(counts, b.counts())
		}
	}
	return counts
}

// MaxAttributeLength bounds a span attribute's value (in characters, as
// the SDK counts; an error's text in bytes) unless
// OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT sets another bound. The SDK's
// default is none, and an attribute is a client's text (a tool name, a
// URI, a request id of up to a request's 4 MiB): a few such spans made
// an export larger than a collector takes (4 MiB by default), and the
// whole batch, other clients' spans with it, was refused.
const MaxAttributeLength = 4096

// spanLimits are the SDK's limits (OTEL_SPAN_* honoured) with
// MaxAttributeLength when no length limit is set.
func spanLimits() sdktrace.SpanLimits {
	l := sdktrace.NewSpanLimits()
	if l.AttributeValueLengthLimit < 0 {
		l.AttributeValueLengthLimit = MaxAttributeLength
	}
	return l
}

// Meter is the meter other parts of the host register instruments on
// (backend phases, audit queues, plugin restarts).
func (t *Telemetry) Meter() metric.Meter { return t.meter }

// MetricSource is a component that reports metrics (gateway, pipelines,
// plugin runtime, policy guard, session limits).
type MetricSource interface {
	RegisterMetrics(m metric.Meter) error
}

// Register registers the metrics of every source on the meter; a nil
// Telemetry (telemetry disabled) registers nothing.
func (t *Telemetry) Register(sources ...MetricSource) error {
	if t == nil {
		return nil
	}
	var errs []error
	for _, s := range sources {
		errs = append(errs, s.RegisterMetrics(t.meter))
	}
	return errors.Join(errs...)
}

// Shutdown flushes and stops the providers. Safe to call more than once.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	return errors.Join(t.tp.Shutdown(ctx), t.mp.Shutdown(ctx))
}

// PrometheusHandler returns a Prometheus metric reader for Options and the
// HTTP handler that serves its scrape endpoint.
func PrometheusHandler() (sdkmetric.Reader, http.Handler, error) {
	reg := prometheus.NewRegistry()
	reader, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, nil, fmt.Errorf("telemetry: prometheus: %w", err)
	}
	return reader, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), nil
}

// ForceFlush exports everything recorded so far.
func (t *Telemetry) ForceFlush(ctx context.Context) error {
	return errors.Join(t.tp.ForceFlush(ctx), t.mp.ForceFlush(ctx))
}
