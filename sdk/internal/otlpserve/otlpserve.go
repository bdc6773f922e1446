// Package otlpserve serves a telemetry exporter plugin's OTLP collector
// TraceService and MetricsService, so an exporter receives exactly what an
// OTLP collector would: decoded, or, for an exporter that forwards trace
// requests as they are (RawTraceExporter), as their protobuf bytes. The
// server must use rawproto.Codec for the latter.
package otlpserve

import (
	"context"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/argusmcp/argus/shared/rawproto"
)

// Exporter is sdk.Exporter.
type Exporter interface {
	ExportTraces(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) error
	ExportMetrics(ctx context.Context, req *colmetricspb.ExportMetricsServiceRequest) error
}

// RawTraceExporter is sdk.RawTraceExporter.
type RawTraceExporter interface {
	ExportTracesRaw(ctx context.Context, req []byte) error
}

// Register serves both services on g; each call asks exporter for the
// configured exporter and returns its error (a gRPC status) when there is
// none.
func Register(g *grpc.Server, exporter func() (Exporter, error)) {
	g.RegisterService(&traceServiceDesc, &traceService{exporter: exporter})
	colmetricspb.RegisterMetricsServiceServer(g, &metricsService{exporter: exporter})
}

// traceServiceDesc is the generated TraceService's, with a handler that
// decodes a request only for an exporter that is no RawTraceExporter.
var traceServiceDesc = grpc.ServiceDesc{
	ServiceName: coltracepb.TraceService_ServiceDesc.ServiceName,
	HandlerType: (*any)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Export", Handler: exportTraces}},
	Metadata:    coltracepb.TraceService_ServiceDesc.Metadata,
}

type traceService struct {
	exporter func() (Exporter, error)
}

// exportTraces is the TraceService's Export handler. The exporter it
// finds decides how the request is read: as its bytes for a
// RawTraceExporter, decoded for any other.
func exportTraces(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	e, err := srv.(*traceService).exporter()
	if err != nil {
		return nil, err
	}
	raw, isRaw := e.(RawTraceExporter)
	var req any = new(coltracepb.ExportTraceServiceRequest)
	if isRaw {
		req = new(rawproto.Message)
	}
	if err := dec(req); err != nil {
		return nil, err
	}
	handle := func(ctx context.Context, req any) (any, error) {
		var err error
		if m, ok := req.(*rawproto.Message); ok {
			err = raw.ExportTracesRaw(ctx, m.Bytes)
		} else {
			err = e.ExportTraces(ctx, req.(*coltracepb.ExportTraceServiceRequest))
		}
		if err != nil {
			return nil, exportError(err)
		}
		return &coltracepb.ExportTraceServiceResponse{}, nil
	}
	if interceptor == nil {
		return handle(ctx, req)
	}
	return interceptor(ctx, req, &grpc.UnaryServerInfo{Server: srv, FullMethod: coltracepb.TraceService_Export_FullMethodName}, handle)
}

type metricsService struct {
	colmetricspb.UnimplementedMetricsServiceServer
	exporter func() (Exporter, error)
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
