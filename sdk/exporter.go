package sdk

import (
	"context"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/argusmcp/argus/sdk/internal/otlpserve"
)

// Exporter is a telemetry exporter. Argus's OpenTelemetry SDK sends it
// standard OTLP export requests over the plugin connection (the plugin
// serves the OTLP collector TraceService and MetricsService), so an
// exporter receives exactly what an OTLP collector would. An error is
// returned to the host's exporter, which retries or drops per its policy.
// Calls may be concurrent.
//
// Optional: Closer (flush and release resources at shutdown),
// RawTraceExporter (trace requests undecoded).
type Exporter interface {
	ExportTraces(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) error
	ExportMetrics(ctx context.Context, req *colmetricspb.ExportMetricsServiceRequest) error
}

// RawTraceExporter is optional for an Exporter that forwards trace export
// requests without looking inside (to a collector, a file, a queue): it
// gets each one as the host encoded it, the protobuf encoding of an OTLP
// ExportTraceServiceRequest, undecoded, and ExportTraces is not called.
// Decoding every span only to encode it again is most of what such an
// exporter would spend per span. The bytes are the exporter's to keep.
type RawTraceExporter interface {
	ExportTracesRaw(ctx context.Context, req []byte) error
}

// ExporterFactory makes a plugin a telemetry exporter.
type ExporterFactory struct {
	// Schema of the exporter's configuration block. Nil: no attributes.
	Schema *Schema
	// Validate checks a configuration without side effects. Optional.
	Validate func(cfg Config) error
	// New builds the exporter. ctx bounds New itself.
	//
	// If New fails, it returns an error and releases what it acquired;
	// if it returns the partly built instance along with the error, the
	// SDK calls its Close (Closer or io.Closer) and discards it, so New
	// can defer nothing and simply return what it has. See Config for
	// what happens when New reads the configuration wrongly.
	New func(ctx context.Context, cfg Config) (Exporter, error)
}

// TelemetryExporter makes the plugin a telemetry exporter (blocks
// `exporter "<name>" "<instance>"`).
func TelemetryExporter(f ExporterFactory) Option {
	return func(p *Plugin) {
		mustOnce(p, p.exporter != nil, "TelemetryExporter")
		mustSchema(p, f.Schema, "TelemetryExporter")
		p.exporter = &f
	}
}

// The SDK's serving finds a RawTraceExporter by otlpserve's twin of it
// (sdk imports otlpserve, not the other way round): their methods must
// stay the same.
var _ otlpserve.RawTraceExporter = RawTraceExporter(nil)

// exporter is the configured Exporter, or a FailedPrecondition error.
func (s *server) exporter() (otlpserve.Exporter, error) {
	inst, err := s.instance()
	if err != nil {
		return nil, err
	}
	e, ok := inst.(Exporter)
	if !ok {
		return nil, status.Error(codes.FailedPrecondition, "the plugin is not configured as a telemetry exporter")
	}
	return e, nil
}
