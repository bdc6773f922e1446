package sdk_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/argusmcp/argus/sdk"
	"github.com/argusmcp/argus/sdk/sdktest"
)

// rawExporter is a memExporter that takes trace requests undecoded.
type rawExporter struct {
	memExporter
	mu      sync.Mutex
	raw     [][]byte
	decoded int // ExportTraces calls, which must not happen
	fail    error
}

func (e *rawExporter) ExportTracesRaw(_ context.Context, req []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fail != nil {
		return e.fail
	}
	e.raw = append(e.raw, req)
	return nil
}

func (e *rawExporter) ExportTraces(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) error {
	e.mu.Lock()
	e.decoded++
	e.mu.Unlock()
	return e.memExporter.ExportTraces(ctx, req)
}

// TestRawTraceExporter: an exporter with ExportTracesRaw gets each trace
// request as the bytes the host sent, never a decoded one, and its errors
// reach the host as the decoded path's do. Metrics are decoded as ever.
func TestRawTraceExporter(t *testing.T) {
	e := &rawExporter{}
	p := sdk.New("raw", "1", sdk.TelemetryExporter(sdk.ExporterFactory{
		New: func(context.Context, sdk.Config) (sdk.Exporter, error) { return e, nil },
	}))
	traces, metrics := sdktest.Start(t, p).Exporter("")
	sent := []*coltracepb.ExportTraceServiceRequest{sdktest.TraceRequest(3), sdktest.TraceRequest(1)}
	for _, req := range sent {
		if _, err := traces.Export(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := metrics.Export(context.Background(), sdktest.MetricsRequest()); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	if e.decoded != 0 || len(e.raw) != len(sent) {
		t.Fatalf("ExportTraces called %d times, ExportTracesRaw %d; want 0 and %d", e.decoded, len(e.raw), len(sent))
	}
	for i, b := range e.raw {
		got := new(coltracepb.ExportTraceServiceRequest)
		if err := proto.Unmarshal(b, got); err != nil || !proto.Equal(got, sent[i]) {
			t.Errorf("request %d arrived as %v (%v), want %v", i, got, err, sent[i])
		}
	}
	e.fail = errors.New("collector down")
	e.mu.Unlock()
	if e.points != 1 {
		t.Errorf("metrics batches = %d, want 1", e.points)
	}
	_, err := traces.Export(context.Background(), sdktest.TraceRequest(1))
	if status.Code(err) != codes.Unavailable {
		t.Errorf("a failing ExportTracesRaw answered %v, want Unavailable", err)
	}
}

// The conformance suite holds for a raw exporter as for any other.
func TestRawTraceExporterConformance(t *testing.T) {
	e := &rawExporter{}
	p := sdk.New("raw", "1", sdk.TelemetryExporter(sdk.ExporterFactory{
		New: func(context.Context, sdk.Config) (sdk.Exporter, error) { return e, nil },
	}))
	sdktest.ExporterConformance(t, p, "")
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.raw) == 0 || e.decoded != 0 {
		t.Errorf("conformance sent %d raw trace requests and %d decoded ones", len(e.raw), e.decoded)
	}
}

// A trace export before the plugin is configured as an exporter is
// refused as such (FailedPrecondition), the request unread.
func TestTraceExportUnconfigured(t *testing.T) {
	p := sdk.New("raw", "1", sdk.TelemetryExporter(sdk.ExporterFactory{
		New: func(context.Context, sdk.Config) (sdk.Exporter, error) { return &rawExporter{}, nil },
	}))
	h := sdktest.Start(t, p)
	_, err := coltracepb.NewTraceServiceClient(h.Conn()).Export(context.Background(), sdktest.TraceRequest(1))
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("Export before Configure: %v, want FailedPrecondition", err)
	}
}
