// Package otlpserve serves a telemetry exporter plugin's OTLP collector
// TraceService and MetricsService, so an exporter receives exactly what an
// OTLP collector would.
package otlpserve

import (
	"context"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Exporter is sdk.Exporter.
type Exporter interface {
	ExportTraces(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) error
	ExportMetrics(ctx context.Context, req *colmetricspb.ExportMetricsServiceRequest) error
}

// Register serves both services on g; each call asks exporter for the
// configured exporter and returns its error (a gRPC status) when there is
// none.
func Register(g *grpc.Server, exporter func() (Exporter, error)) {
	coltracepb.RegisterTraceServiceServer(g, &traceService{exporter: exporter})
	colmetricspb.RegisterMetricsServiceServer(g, &metricsService{exporter: exporter})
}

type traceService struct {
	coltracepb.UnimplementedTraceServiceServer
	exporter func() (Exporter, error)
}

type metricsService struct {
	colmetricspb.UnimplementedMetricsServiceServer
	exporter func() (Exporter, error)
}

func (s *traceService) Export(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	e, err := s.exporter()
	if err != nil {
		return nil, err
	}
	if err := e.ExportTraces(ctx, req); err != nil {
		return nil, exportError(err)
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func (s *metricsService) Export(ctx context.Context, req *colmetricspb.ExportMetricsServiceRequest) (*colmetricspb.ExportMetricsServiceResponse, error) {
	e, err := s.exporter()
	if err != nil {
		return nil, err
	}
	if err := e.ExportMetrics(ctx, req); err != nil {
		return nil, exportError(err)
	}
	return &colmetricspb.ExportMetricsServiceResponse{}, nil
}

// exportError keeps a gRPC status an exporter returned (the OTLP exporter
// retries Unavailable and friends) and makes anything else Unavailable.
func exportError(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Unavailable, err.Error())
}
