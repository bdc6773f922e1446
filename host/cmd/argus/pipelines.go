package main

import (
	"context"
	"net/http"
	"os"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/argusmcp/argus/host/audit"
	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/gateway"
	"github.com/argusmcp/argus/host/logging"
	"github.com/argusmcp/argus/host/pluginhost"
	"github.com/argusmcp/argus/host/telemetry"
	"github.com/argusmcp/argus/shared"
)

// startTelemetry builds the OpenTelemetry pipeline over the configured
// exporter plugin instances; nil when telemetry is disabled.
//
// With telemetry.prometheus it also returns the /metrics scrape handler.
func startTelemetry(cfg *config.Config, rt *pluginhost.Runtime, log hclog.Logger) (*telemetry.Telemetry, http.Handler, error) {
	if !cfg.Telemetry.Enabled {
		return nil, nil, nil
	}
	var spans []sdktrace.SpanExporter
	var readers []sdkmetric.Reader
	for _, inst := range rt.Instances() {
		if inst.Spec().Kind != shared.KindTelemetryExporter {
			continue
		}
		spans = append(spans, telemetry.PluginSpanExporter(inst))
		readers = append(readers, sdkmetric.NewPeriodicReader(telemetry.PluginMetricExporter(inst)))
	}
	name := cfg.Telemetry.ServiceName
	if name == "" {
		name = os.Getenv("OTEL_SERVICE_NAME")
	}
	var scrape http.Handler
	if cfg.Telemetry.Prometheus {
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

// startAudit builds the audit pipeline: one delivery queue per sink
// instance; nil when audit is disabled.
func startAudit(cfg *config.Config, rt *pluginhost.Runtime, log hclog.Logger, logOpts logging.Options, secrets *logging.Secrets) *audit.Pipeline {
	if !cfg.Audit.Enabled {
		log.Warn("audit is disabled: MCP operations are not recorded")
		return nil
	}
	stream := uuid.NewString() // one delivery stream per host process
	byName := map[string]config.PluginInstance{}
	for _, s := range cfg.Audit.Sinks {
		byName[shared.KindBlock(s.Kind)+"."+s.Name] = s
	}
	var queues []*audit.Queue
	for _, inst := range rt.Instances() {
		if inst.Spec().Kind != shared.KindAuditSink {
			continue
		}
		c := byName[inst.ID()]
		queues = append(queues, audit.NewQueue(audit.PluginSink{Instance: inst}, audit.QueueOptions{
			Stream: stream, Capacity: c.QueueSize, OnFull: c.OnFull, Required: c.Required, Logger: log.Named("audit"),
		}))
	}
	opts := audit.Options{RecordRequests: cfg.Audit.RecordRequests, Logger: log.Named("audit"), Redact: secrets.Redact}
	if cfg.Audit.LogEvents {
		opts.Mirror = logging.AuditMirror(logOpts, secrets)
	}
	log.Info("audit enabled", "sinks", len(queues), "stream", stream)
	return audit.NewPipeline(queues, opts)
}

// registerMetrics adds the gauges of the gateway's state: backend phases
// and health-check latency, audit queues, plugin restarts, recovered
// panics.
func registerMetrics(tel *telemetry.Telemetry, gw *gateway.Gateway, pipe *audit.Pipeline, rt *pluginhost.Runtime) error {
	m := tel.Meter()
	phase, err := m.Int64ObservableGauge("argus.backend.phase",
		metric.WithDescription("1 for each backend's current lifecycle phase (attribute phase)."))
	if err != nil {
		return err
	}
	latency, err := m.Float64ObservableGauge("argus.backend.health.latency",
		metric.WithDescription("Latency of each backend's last health check."), metric.WithUnit("s"))
	if err != nil {
		return err
	}
	depth, err := m.Int64ObservableGauge("argus.audit.queue.depth",
		metric.WithDescription("Audit events waiting for a sink's acknowledgement."), metric.WithUnit("{event}"))
	if err != nil {
		return err
	}
	dropped, err := m.Int64ObservableCounter("argus.audit.dropped",
		metric.WithDescription("Audit events dropped because a sink's queue was full (on_full = drop) or a request gave up waiting."), metric.WithUnit("{event}"))
	if err != nil {
		return err
	}
	failed, err := m.Int64ObservableCounter("argus.audit.failed_writes",
		metric.WithDescription("Failed writes to audit sinks (their events are replayed)."), metric.WithUnit("{write}"))
	if err != nil {
		return err
	}
	restarts, err := m.Int64ObservableCounter("argus.plugin.restarts",
		metric.WithDescription("Plugin process restarts, by instance."), metric.WithUnit("{restart}"))
	if err != nil {
		return err
	}
	panics, err := m.Int64ObservableCounter("argus.panics.recovered",
		metric.WithDescription("Panics recovered while serving clients and backends; each failed one request with an internal error."), metric.WithUnit("{panic}"))
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(panics, gw.Panics().Count())
		for _, b := range gw.Backends() {
			o.ObserveInt64(phase, 1, metric.WithAttributes(attribute.String("backend", b.Name), attribute.String("phase", string(b.Phase))))
			if b.Health.LastCheck != nil {
				o.ObserveFloat64(latency, b.Health.LatencyMS/1000, metric.WithAttributes(attribute.String("backend", b.Name)))
			}
		}
		if pipe != nil {
			for _, s := range pipe.Stats() {
				attrs := metric.WithAttributes(attribute.String("sink", s.Sink))
				o.ObserveInt64(depth, int64(s.Depth), attrs)
				o.ObserveInt64(dropped, int64(s.Dropped), attrs)
				o.ObserveInt64(failed, int64(s.Failed), attrs)
			}
		}
		for _, s := range rt.Status() {
			o.ObserveInt64(restarts, int64(s.Restarts), metric.WithAttributes(attribute.String("instance", s.ID)))
		}
		return nil
	}, phase, latency, depth, dropped, failed, restarts, panics)
	return err
}
