package main

import (
	"net/http"
	"os"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"

	"github.com/argusmcp/argus/host/audit"
	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/logging"
	"github.com/argusmcp/argus/host/pluginhost"
	"github.com/argusmcp/argus/host/pluginhost/exporter"
	"github.com/argusmcp/argus/host/pluginhost/sink"
	"github.com/argusmcp/argus/host/telemetry"
)

// startTelemetry builds the OpenTelemetry pipeline over the configured
// exporter plugin instances; nil when telemetry is disabled.
//
// With telemetry.prometheus it also returns the /metrics scrape handler.
func startTelemetry(cfg *config.Config, rt *pluginhost.Runtime, log hclog.Logger) (*telemetry.Telemetry, http.Handler, error) {
	if !cfg.Telemetry.Enabled {
		return nil, nil, nil
	}
	spans, readers := exporter.Pipelines(rt)
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
	queues := sink.Queues(rt, stream, log.Named("audit"))
	opts := audit.Options{RecordRequests: cfg.Audit.RecordRequests, Logger: log.Named("audit"), Redact: secrets.Redact}
	if cfg.Audit.LogEvents {
		opts.Mirror = logging.AuditMirror(logOpts, secrets)
	}
	log.Info("audit enabled", "sinks", len(queues), "stream", stream)
	return audit.NewPipeline(queues, opts)
}
