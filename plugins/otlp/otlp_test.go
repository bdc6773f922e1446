package otlp

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/argusmcp/argus/sdk/sdktest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/types/known/durationpb"
)

// fakeAttrs stands in for sdk.Config in unit tests of settingsFrom.
type fakeAttrs map[string]any

func (f fakeAttrs) Has(n string) bool      { _, ok := f[n]; return ok }
func (f fakeAttrs) String(n string) string { s, _ := f[n].(string); return s }
func (f fakeAttrs) Bool(n string) bool     { b, _ := f[n].(bool); return b }
func (f fakeAttrs) Duration(n string) time.Duration {
	if d, ok := f[n].(time.Duration); ok {
		return d
	}
	if n == "max_elapsed" {
		return time.Minute
	}
	return 0
}
func (f fakeAttrs) StringMap(n string) map[string]string { m, _ := f[n].(map[string]string); return m }

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestSettings(t *testing.T) {
	tests := []struct {
		name    string
		cfg     fakeAttrs
		env     map[string]string
		traces  signal
		metrics signal
		err     string
	}{
		{name: "defaults", traces: signal{Protocol: "grpc", Endpoint: "localhost:4317", Insecure: true, Headers: map[string]string{}},
			metrics: signal{Protocol: "grpc", Endpoint: "localhost:4317", Insecure: true, Headers: map[string]string{}}},
		{name: "env http with per-signal endpoint",
			env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
				"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://metrics:9090/custom", "OTEL_EXPORTER_OTLP_HEADERS": "api-key=s%20ecret,x=1"},
			traces:  signal{Protocol: "http/protobuf", Endpoint: "http://collector:4318/v1/traces", Insecure: true, Headers: map[string]string{"api-key": "s ecret", "x": "1"}},
			metrics: signal{Protocol: "http/protobuf", Endpoint: "http://metrics:9090/custom", Insecure: true, Headers: map[string]string{"api-key": "s ecret", "x": "1"}}},
		{name: "block overrides env",
			cfg:     fakeAttrs{"endpoint": "otel.example:4317", "insecure": false, "headers": map[string]string{"x": "block"}},
			env:     map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "ignored:1", "OTEL_EXPORTER_OTLP_HEADERS": "x=env"},
			traces:  signal{Protocol: "grpc", Endpoint: "otel.example:4317", Headers: map[string]string{"x": "block"}},
			metrics: signal{Protocol: "grpc", Endpoint: "otel.example:4317", Headers: map[string]string{"x": "block"}}},
		{name: "grpc url form", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel.example:4317"},
			traces:  signal{Protocol: "grpc", Endpoint: "otel.example:4317", Headers: map[string]string{}},
			metrics: signal{Protocol: "grpc", Endpoint: "otel.example:4317", Headers: map[string]string{}}},
		{name: "bad protocol", cfg: fakeAttrs{"protocol": "thrift"}, err: "not supported"},
		{name: "bad headers", env: map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, err: "key=value"},
		{name: "bad timeout", env: map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"}, err: "milliseconds"},
		{name: "bad http endpoint", cfg: fakeAttrs{"protocol": "http/protobuf", "endpoint": "collector:4318"}, err: "http://"},
		{name: "bad insecure", env: map[string]string{"OTEL_EXPORTER_OTLP_INSECURE": "maybe"}, err: "boolean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cfg == nil {
				tt.cfg = fakeAttrs{}
			}
			s, err := settingsFrom(tt.cfg, envOf(tt.env), sigTraces, sigMetrics)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				got, want signal
			}{{s.Traces, tt.traces}, {s.Metrics, tt.metrics}} {
				if c.got.Protocol != c.want.Protocol || c.got.Endpoint != c.want.Endpoint || c.got.Insecure != c.want.Insecure || len(c.got.Headers) != len(c.want.Headers) {
					t.Errorf("got %+v, want %+v", c.got, c.want)
				}
				for k, v := range c.want.Headers {
					if c.got.Headers[k] != v {
						t.Errorf("header %s = %q, want %q", k, c.got.Headers[k], v)
					}
				}
			}
		})
	}
}

// collector is a real gRPC OTLP server in the test process.
type collector struct {
	coltracepb.UnimplementedTraceServiceServer
	mu      sync.Mutex
	spans   int
	metrics int
	fail    int // answer Unavailable this many times first
	apiKey  string
	last    *coltracepb.ExportTraceServiceRequest
}

func (c *collector) Export(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail > 0 {
		c.fail--
		return nil, status.Error(codes.Unavailable, "starting up")
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("api-key"); len(v) > 0 {
		c.apiKey = v[0]
	}
	c.last = req
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			c.spans += len(ss.Spans)
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

type metricsCollector struct {
	colmetricspb.UnimplementedMetricsServiceServer
	c *collector
}

func (m metricsCollector) Export(context.Context, *colmetricspb.ExportMetricsServiceRequest) (*colmetricspb.ExportMetricsServiceResponse, error) {
	m.c.mu.Lock()
	m.c.metrics++
	m.c.mu.Unlock()
	return &colmetricspb.ExportMetricsServiceResponse{}, nil
}

func startCollector(t *testing.T) (*collector, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, c)
	colmetricspb.RegisterMetricsServiceServer(srv, metricsCollector{c: c})
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return c, ln.Addr().String()
}

func TestForwardsOverGRPCWithRetries(t *testing.T) {
	c, addr := startCollector(t)
	c.fail = 2
	h := sdktest.Start(t, Plugin())
	traces, metrics := h.Exporter(`
endpoint = "` + addr + `"
headers  = { "api-key" = "k-123" }
`)
	sent := sdktest.TraceRequest(5)
	if _, err := traces.Export(context.Background(), sent); err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.Export(context.Background(), sdktest.MetricsRequest()); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.spans != 5 || c.metrics != 1 || c.apiKey != "k-123" {
		t.Errorf("collector got spans %d metrics %d api-key %q", c.spans, c.metrics, c.apiKey)
	}
	// Forwarded undecoded (ExportTracesRaw), the request is the one sent.
	if !proto.Equal(c.last, sent) {
		t.Errorf("collector got %v, want %v", c.last, sent)
	}
}

func TestForwardsOverHTTP(t *testing.T) {
	sent := sdktest.TraceRequest(3)
	var mu sync.Mutex
	paths := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if r.URL.Path == "/v1/traces" {
			if err := proto.Unmarshal(body, &req); err != nil || r.Header.Get("Content-Type") != "application/x-protobuf" ||
				!proto.Equal(&req, sent) {
				w.WriteHeader(400)
				return
			}
		}
		mu.Lock()
		paths[r.URL.Path]++
		mu.Unlock()
	}))
	defer srv.Close()
	h := sdktest.Start(t, Plugin())
	traces, metrics := h.Exporter(`
protocol = "http/protobuf"
endpoint = "` + srv.URL + `"
`)
	if _, err := traces.Export(context.Background(), sent); err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.Export(context.Background(), sdktest.MetricsRequest()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if paths["/v1/traces"] != 1 || paths["/v1/metrics"] != 1 {
		t.Errorf("paths %v", paths)
	}
}

func TestUnreachableFailsWithoutHanging(t *testing.T) {
	h := sdktest.Start(t, Plugin())
	traces, _ := h.Exporter(`
endpoint    = "127.0.0.1:1"
max_elapsed = "300ms"
timeout     = "100ms"
`)
	start := time.Now()
	if _, err := traces.Export(context.Background(), sdktest.TraceRequest(1)); err == nil {
		t.Error("export to a closed port succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("export gave up only after %v", d)
	}
}

func TestExporterConformance(t *testing.T) {
	_, addr := startCollector(t)
	sdktest.ExporterConformance(t, Plugin(), `endpoint = "`+addr+`"`)
}

// TestParseHeadersErrorsHideValues: a malformed header list is reported
// by position, never by content.
func TestParseHeadersErrorsHideValues(t *testing.T) {
	for _, raw := range []string{"api-key=ok,sekretValue77", "k=%zzsekretValue77"} {
		_, err := parseHeaders(raw)
		if err == nil || strings.Contains(err.Error(), "sekretValue77") {
			t.Errorf("parseHeaders(%q) = %v", raw, err)
		}
	}
}

// ResourceExhausted is retried only with a RetryInfo (OTLP/gRPC): without
// one it is a request over the receiver's size limit.
func TestRetryableResourceExhausted(t *testing.T) {
	tooLarge := status.Error(codes.ResourceExhausted, "grpc: received message larger than max (7683053 vs. 4194304)")
	if retryable(tooLarge) {
		t.Error("a message over the receiver's limit is retried")
	}
	st, err := status.New(codes.ResourceExhausted, "slow down").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if !retryable(st.Err()) {
		t.Error("ResourceExhausted with RetryInfo is not retried")
	}
	if !retryable(status.Error(codes.Unavailable, "down")) || retryable(status.Error(codes.InvalidArgument, "bad")) {
		t.Error("Unavailable and InvalidArgument misjudged")
	}
}
