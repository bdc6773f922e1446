package sdktest

import (
	"context"
	"sync"
	"time"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/argusmcp/argus/sdk"
)

// The fakes below are in-memory plugins of each kind for host-side tests:
// each records what it receives, fails on demand, and serves as a real
// plugin through its Plugin method (in-process with Start, or from a test
// binary with sdk.Serve). Every configured instance of that plugin is the
// fake itself, so a test inspects it directly. Their configuration blocks
// take no attributes. All methods are safe for concurrent use; the zero
// value of each is ready and succeeds at everything.

// faults holds the errors a fake's operations return until changed.
type faults struct {
	mu   sync.Mutex
	errs map[string]error
}

func (f *faults) set(op string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.errs == nil {
		f.errs = map[string]error{}
	}
	f.errs[op] = err
}

func (f *faults) get(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.errs[op]
}

// FakeSink is an audit sink that keeps every event it is written, in
// order. It implements sdk.Sink, sdk.Flusher and sdk.Closer; Write is
// durable at once (acknowledged on return).
type FakeSink struct {
	faults
	mu      sync.Mutex
	events  []sdk.Event
	streams []string
	writes  int
	flushes int
	closes  int
}

// Plugin serves the sink as a plugin called "fake-sink".
func (f *FakeSink) Plugin() *sdk.Plugin {
	return sdk.New("fake-sink", "0.0.0", sdk.AuditSink(sdk.SinkFactory{
		New: func(context.Context, sdk.Config) (sdk.Sink, error) {
			if err := f.get("New"); err != nil {
				return nil, err
			}
			return f, nil
		},
	}))
}

// FailNew makes configuring the sink's plugin fail with err (nil: succeed).
func (f *FakeSink) FailNew(err error) { f.set("New", err) }

// FailWrite makes Write fail with err, recording nothing (nil: succeed).
func (f *FakeSink) FailWrite(err error) { f.set("Write", err) }

// FailFlush makes Flush fail with err (nil: succeed).
func (f *FakeSink) FailFlush(err error) { f.set("Flush", err) }

// FailClose makes Close fail with err (nil: succeed).
func (f *FakeSink) FailClose(err error) { f.set("Close", err) }

// Write records events, unless FailWrite set an error.
func (f *FakeSink) Write(ctx context.Context, events []sdk.Event) error {
	if err := f.get("Write"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	for _, e := range events {
		f.events = append(f.events, sdk.Event{Seq: e.Seq, JSON: append([]byte(nil), e.JSON...)})
		f.streams = append(f.streams, sdk.Stream(ctx))
	}
	return nil
}

// Flush counts the call, unless FailFlush set an error.
func (f *FakeSink) Flush(context.Context) error {
	if err := f.get("Flush"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flushes++
	return nil
}

// Close counts the call, unless FailClose set an error.
func (f *FakeSink) Close(context.Context) error {
	if err := f.get("Close"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closes++
	return nil
}

// Events returns a copy of the events written so far, in order.
func (f *FakeSink) Events() []sdk.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sdk.Event(nil), f.events...)
}

// Seqs returns the sequence numbers of the events written so far.
func (f *FakeSink) Seqs() []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]uint64, len(f.events))
	for i, e := range f.events {
		out[i] = e.Seq
	}
	return out
}

// Streams returns the delivery stream of each event written so far.
func (f *FakeSink) Streams() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.streams...)
}

// Calls returns how many Writes, Flushes and Closes succeeded.
func (f *FakeSink) Calls() (writes, flushes, closes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes, f.flushes, f.closes
}

// FakeProbe is a health probe whose results a test sets per backend.
// Backends without a result are healthy. It implements sdk.Probe.
type FakeProbe struct {
	faults
	mu      sync.Mutex
	results map[string]fakeResult
	checks  []string
}

type fakeResult struct {
	res   sdk.Result
	err   error
	delay time.Duration
}

// Plugin serves the probe as a plugin called "fake-probe". The probe does
// not use the host.
func (f *FakeProbe) Plugin() *sdk.Plugin {
	return sdk.New("fake-probe", "0.0.0", sdk.HealthProbe(sdk.ProbeFactory{
		New: func(context.Context, sdk.Config, sdk.Host) (sdk.Probe, error) {
			if err := f.get("New"); err != nil {
				return nil, err
			}
			return f, nil
		},
	}))
}

// FailNew makes configuring the probe's plugin fail with err (nil:
// succeed).
func (f *FakeProbe) FailNew(err error) { f.set("New", err) }

// Set makes checks of backend return res and err after delay (bounded by
// the check's context).
func (f *FakeProbe) Set(backend string, res sdk.Result, err error, delay time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.results == nil {
		f.results = map[string]fakeResult{}
	}
	f.results[backend] = fakeResult{res: res, err: err, delay: delay}
}

// Check records the call and returns what Set gave for backend.
func (f *FakeProbe) Check(ctx context.Context, backend string) (sdk.Result, error) {
	f.mu.Lock()
	f.checks = append(f.checks, backend)
	r, ok := f.results[backend]
	f.mu.Unlock()
	if !ok {
		return sdk.Result{Status: sdk.Healthy}, nil
	}
	if r.delay > 0 {
		select {
		case <-time.After(r.delay):
		case <-ctx.Done():
			return sdk.Result{}, ctx.Err()
		}
	}
	return r.res, r.err
}

// Checks returns the backends checked so far, in order.
func (f *FakeProbe) Checks() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.checks...)
}

// FakeExporter is a telemetry exporter that keeps every export request it
// receives. It implements sdk.Exporter and sdk.Closer.
type FakeExporter struct {
	faults
	mu      sync.Mutex
	traces  []*coltracepb.ExportTraceServiceRequest
	metrics []*colmetricspb.ExportMetricsServiceRequest
	closes  int
}

// Plugin serves the exporter as a plugin called "fake-exporter".
func (f *FakeExporter) Plugin() *sdk.Plugin {
	return sdk.New("fake-exporter", "0.0.0", sdk.TelemetryExporter(sdk.ExporterFactory{
		New: func(context.Context, sdk.Config) (sdk.Exporter, error) {
			if err := f.get("New"); err != nil {
				return nil, err
			}
			return f, nil
		},
	}))
}

// FailNew makes configuring the exporter's plugin fail with err (nil:
// succeed).
func (f *FakeExporter) FailNew(err error) { f.set("New", err) }

// FailTraces makes ExportTraces fail with err, recording nothing (nil:
// succeed). A gRPC status error reaches the host as is (Unavailable and
// friends are retried by OTLP exporters); anything else as Unavailable.
func (f *FakeExporter) FailTraces(err error) { f.set("Traces", err) }

// FailMetrics makes ExportMetrics fail with err, recording nothing (nil:
// succeed).
func (f *FakeExporter) FailMetrics(err error) { f.set("Metrics", err) }

// ExportTraces records a copy of req.
func (f *FakeExporter) ExportTraces(_ context.Context, req *coltracepb.ExportTraceServiceRequest) error {
	if err := f.get("Traces"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.traces = append(f.traces, proto.Clone(req).(*coltracepb.ExportTraceServiceRequest))
	return nil
}

// ExportMetrics records a copy of req.
func (f *FakeExporter) ExportMetrics(_ context.Context, req *colmetricspb.ExportMetricsServiceRequest) error {
	if err := f.get("Metrics"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.metrics = append(f.metrics, proto.Clone(req).(*colmetricspb.ExportMetricsServiceRequest))
	return nil
}

// Close counts the call.
func (f *FakeExporter) Close(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closes++
	return nil
}

// TraceRequests returns the trace export requests received so far.
func (f *FakeExporter) TraceRequests() []*coltracepb.ExportTraceServiceRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*coltracepb.ExportTraceServiceRequest(nil), f.traces...)
}

// MetricRequests returns the metric export requests received so far.
func (f *FakeExporter) MetricRequests() []*colmetricspb.ExportMetricsServiceRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*colmetricspb.ExportMetricsServiceRequest(nil), f.metrics...)
}

// Spans counts the spans received so far.
func (f *FakeExporter) Spans() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, req := range f.traces {
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				n += len(ss.GetSpans())
			}
		}
	}
	return n
}

// Closes returns how many times Close was called.
func (f *FakeExporter) Closes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closes
}
