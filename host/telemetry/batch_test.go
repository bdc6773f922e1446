package telemetry

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// gatedExporter records spans; while gate is set, exports wait for it.
type gatedExporter struct {
	*tracetest.InMemoryExporter
	mu       sync.Mutex
	gate     chan struct{}
	shutdown bool
}

func (e *gatedExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	gate := e.gate
	e.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return e.InMemoryExporter.ExportSpans(ctx, spans)
}

func (e *gatedExporter) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	e.shutdown = true
	e.mu.Unlock()
	return nil // keep the spans readable
}

func (e *gatedExporter) count() int { return len(e.GetSpans()) }

func endSpans(tp *sdktrace.TracerProvider, n int) {
	for range n {
		_, s := tp.Tracer("t").Start(context.Background(), "s")
		s.End()
	}
}

func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestBatcher: the span processor exports a full batch at once, holds a
// partial one until the timer or ForceFlush, drops beyond its queue bound
// while an export is slow, and exports the rest at Shutdown, after which
// it takes no spans.
func TestBatcher(t *testing.T) {
	exp := &gatedExporter{InMemoryExporter: tracetest.NewInMemoryExporter()}
	b := newBatcher(exp, "test", batchOptions{scheduleDelay: time.Hour, exportTimeout: 5 * time.Second, maxQueue: 10, maxBatch: 4})
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b))

	endSpans(tp, 3)
	time.Sleep(20 * time.Millisecond) // nothing may happen: nothing to poll for
	if n := exp.count(); n != 0 {
		t.Fatalf("%d spans exported before a batch was full", n)
	}
	endSpans(tp, 1)
	pollUntil(t, "a full batch exported", func() bool { return exp.count() == 4 })

	// A slow export: the queue fills to its bound, then drops.
	gate := make(chan struct{})
	exp.mu.Lock()
	exp.gate = gate
	exp.mu.Unlock()
	endSpans(tp, 4) // a full batch: the export starts and waits at the gate
	pollUntil(t, "the slow export started", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.queue) == 0
	})
	endSpans(tp, 11)
	b.mu.Lock()
	queued, dropped := len(b.queue), b.dropped
	b.mu.Unlock()
	if queued != 10 || dropped != 1 {
		t.Fatalf("queued %d, dropped %d; want 10 and 1", queued, dropped)
	}
	close(gate)
	pollUntil(t, "the slow export done", func() bool { return exp.count() >= 8 })
	exp.mu.Lock()
	exp.gate = nil
	exp.mu.Unlock()

	if err := b.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := exp.count(); n != 18 {
		t.Fatalf("%d spans exported after ForceFlush, want 18", n)
	}
	endSpans(tp, 2)
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := exp.count(); n != 20 || !exp.shutdown {
		t.Fatalf("after Shutdown: %d spans exported (want 20), exporter shut down %v", n, exp.shutdown)
	}
	_, late := sdktrace.NewTracerProvider().Tracer("t").Start(context.Background(), "late")
	late.End()
	b.OnEnd(late.(sdktrace.ReadOnlySpan))
	b.mu.Lock()
	queued = len(b.queue)
	b.mu.Unlock()
	if queued != 0 {
		t.Fatal("a span was queued after Shutdown")
	}
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

// TestBatcherTimer: a partial batch goes out after the schedule delay.
func TestBatcherTimer(t *testing.T) {
	exp := &gatedExporter{InMemoryExporter: tracetest.NewInMemoryExporter()}
	b := newBatcher(exp, "test", batchOptions{scheduleDelay: 20 * time.Millisecond, exportTimeout: 5 * time.Second, maxQueue: 10, maxBatch: 4})
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b))
	defer tp.Shutdown(context.Background())
	endSpans(tp, 1)
	pollUntil(t, "the timer's export", func() bool { return exp.count() == 1 })
}

// TestBatchOptionsFromEnv: the OTEL_BSP_* variables apply as in the SDK.
func TestBatchOptionsFromEnv(t *testing.T) {
	env := map[string]string{}
	get := func(k string) string { return env[k] }
	if o := batchOptionsFromEnv(get); o != (batchOptions{5 * time.Second, 30 * time.Second, 2048, 512}) {
		t.Errorf("defaults %+v", o)
	}
	env = map[string]string{"OTEL_BSP_SCHEDULE_DELAY": "200", "OTEL_BSP_EXPORT_TIMEOUT": "1000", "OTEL_BSP_MAX_QUEUE_SIZE": "100", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "700"}
	if o := batchOptionsFromEnv(get); o != (batchOptions{200 * time.Millisecond, time.Second, 100, 100}) {
		t.Errorf("from the environment %+v", o)
	}
	env = map[string]string{"OTEL_BSP_SCHEDULE_DELAY": "-1", "OTEL_BSP_MAX_QUEUE_SIZE": "x"}
	if o := batchOptionsFromEnv(get); o.scheduleDelay != 5*time.Second || o.maxQueue != 2048 {
		t.Errorf("invalid values not ignored: %+v", o)
	}
}

// BenchmarkSpanProcessor compares the CPU a call's two spans cost with the
// SDK's BatchSpanProcessor and with batcher, as a gateway at concurrency 1
// sees it: calls one at a time with idle gaps, in which the SDK's
// exporting goroutine parks and each span wakes it again. cpu-µs/call is
// the whole process's CPU time (getrusage) per call, gaps included; the
// two processors are measured in alternating rounds of the same run.
func BenchmarkSpanProcessor(b *testing.B) {
	const rounds, calls = 6, 300
	procs := []struct {
		name string
		new  func() sdktrace.SpanProcessor
	}{
		{"sdk-batch-span-processor", func() sdktrace.SpanProcessor {
			return sdktrace.NewBatchSpanProcessor(tracetest.NewNoopExporter())
		}},
		{"batcher", func() sdktrace.SpanProcessor {
			return newBatcher(tracetest.NewNoopExporter(), "bench", batchOptionsFromEnv(func(string) string { return "" }))
		}},
	}
	cpu := make([]time.Duration, len(procs))
	for range rounds {
		for i, p := range procs {
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(p.new()))
			tr := tp.Tracer("bench")
			t0 := processCPU(b)
			for range calls {
				ctx, server := tr.Start(context.Background(), "server")
				_, client := tr.Start(ctx, "client")
				client.End()
				server.End()
				time.Sleep(500 * time.Microsecond) // the rest of the call
			}
			cpu[i] += processCPU(b) - t0
			tp.Shutdown(context.Background())
		}
	}
	for i, p := range procs {
		b.Run(p.name, func(b *testing.B) {
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(cpu[i].Microseconds())/(rounds*calls), "cpu-µs/call")
		})
	}
}

// processCPU is the process's user and system CPU time so far.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Skip("no getrusage:", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// failingExporter fails every export.
type failingExporter struct{ calls int }

func (e *failingExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error {
	e.calls++
	return errors.New("plugin gone")
}
func (e *failingExporter) Shutdown(context.Context) error { return nil }

// A failing exporter is reported to the OpenTelemetry error handler (the
// host's log): the first failure at once, the next ones at most every
// reportEvery, counted.
func TestBatcherReportsFailures(t *testing.T) {
	reports := captureReports(t)

	exp := &failingExporter{}
	b := newBatcher(exp, "test", batchOptions{scheduleDelay: time.Hour, exportTimeout: time.Second, maxQueue: 8, maxBatch: 2})
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	endSpans(tp, 2)
	pollUntil(t, "the first failure reported", func() bool { return len(reports()) == 1 })
	if r := reports()[0]; !strings.Contains(r, "plugin gone") || strings.Contains(r, "since the last report") {
		t.Errorf("first report %q", r)
	}
	for range 3 {
		endSpans(tp, 2)
		time.Sleep(20 * time.Millisecond)
	}
	if r := reports(); len(r) != 1 {
		t.Fatalf("failures within %v reported again: %q", reportEvery, r)
	}
	// Once reportEvery has passed, the next failure is reported with the
	// ones kept back.
	b.mu.Lock()
	b.reported = b.reported.Add(-reportEvery)
	b.mu.Unlock()
	endSpans(tp, 2)
	pollUntil(t, "the next failure reported", func() bool { return len(reports()) == 2 })
	if r := reports()[1]; !strings.Contains(r, "plugin gone (4 failed exports since the last report)") {
		t.Errorf("second report %q", r)
	}
}

// captureReports makes the OpenTelemetry error handler (the host's log)
// keep what it is handed until the test ends; the function returns it
// so far.
func captureReports(t *testing.T) func() []string {
	var mu sync.Mutex
	var got []string
	prev := otel.GetErrorHandler()
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		mu.Lock()
		got = append(got, err.Error())
		mu.Unlock()
	}))
	t.Cleanup(func() { otel.SetErrorHandler(prev) })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

// ctxExporter waits in every export until its context ends, as an
// exporter does whose plugin does not answer.
type ctxExporter struct{ started chan struct{} }

func (e *ctxExporter) ExportSpans(ctx context.Context, _ []sdktrace.ReadOnlySpan) error {
	select {
	case e.started <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}
func (e *ctxExporter) Shutdown(context.Context) error { return nil }

// Shutdown returns when its context ends (the SDK's BatchSpanProcessor
// does), even while the background export waits on a plugin that does not
// answer, and that export is ended with it.
func TestBatcherShutdownHonoursContext(t *testing.T) {
	exp := &ctxExporter{started: make(chan struct{}, 1)}
	b := newBatcher(exp, "test", batchOptions{scheduleDelay: time.Hour, exportTimeout: 3 * time.Second, maxQueue: 8, maxBatch: 1})
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b))
	endSpans(tp, 1) // a full batch: the background export starts
	<-exp.started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	tp.Shutdown(ctx)
	if d := time.Since(start); d > time.Second {
		t.Errorf("Shutdown with a 100ms context took %v", d.Round(time.Millisecond))
	}
	select { // the export it ended does not linger either
	case <-b.done:
	case <-time.After(time.Second):
		t.Error("the background export still runs 1s after Shutdown returned")
	}
}

// ForceFlush returns when its context ends, even while a background
// export waits on a plugin that does not answer.
func TestBatcherForceFlushHonoursContext(t *testing.T) {
	exp := &ctxExporter{started: make(chan struct{}, 1)}
	b := newBatcher(exp, "test", batchOptions{scheduleDelay: time.Hour, exportTimeout: 3 * time.Second, maxQueue: 8, maxBatch: 1})
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		tp.Shutdown(ctx)
	})
	endSpans(tp, 1) // a full batch: the background export starts and hangs
	<-exp.started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := b.ForceFlush(ctx); err == nil {
		t.Error("ForceFlush behind a hung export succeeded")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("ForceFlush with a 100ms context took %v", d.Round(time.Millisecond))
	}
}

// namedExporter is an exporter that fails while failing is set, and
// names itself as the plugin exporters do.
type namedExporter struct {
	*gatedExporter
	failing bool
}

func (e *namedExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	failing := e.failing
	e.mu.Unlock()
	if failing {
		return errors.New("plugin gone")
	}
	return e.gatedExporter.ExportSpans(ctx, spans)
}

func (e *namedExporter) Name() string { return "exporter.bench" }

// What becomes of the spans is counted, by exporter, in the metrics
// (argus.telemetry.spans.exported and .dropped by reason) and in
// SpanCounts (the status), and spans dropped because the exporter falls
// behind are reported, as failed exports are: a trace with holes must
// not look like calls that never happened.
func TestSpansDroppedAreCountedAndReported(t *testing.T) {
	reports := captureReports(t)
	t.Setenv("OTEL_BSP_MAX_QUEUE_SIZE", "4")
	t.Setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "2")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "3600000")

	exp := &namedExporter{gatedExporter: &gatedExporter{InMemoryExporter: tracetest.NewInMemoryExporter()}}
	reader := sdkmetric.NewManualReader()
	tel, err := New(Options{SpanExporters: []sdktrace.SpanExporter{exp, tracetest.NewNoopExporter()}, MetricReaders: []sdkmetric.Reader{reader}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tel.Shutdown(context.Background()) })
	b := tel.batchers[0]

	// Two full batches exported.
	endSpans(tel.tp, 4)
	pollUntil(t, "two batches exported", func() bool { return exp.count() == 4 })

	// The exporter stalls: a batch waits at the gate, four more spans
	// fill the queue, three are dropped.
	gate := make(chan struct{})
	exp.mu.Lock()
	exp.gate = gate
	exp.mu.Unlock()
	endSpans(tel.tp, 2)
	pollUntil(t, "the stalled export started", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.queue) == 0
	})
	endSpans(tel.tp, 7)
	close(gate)
	// (Other tests' exporters may report to the handler too.)
	var r string
	pollUntil(t, "the drops reported", func() bool {
		for _, s := range reports() {
			if strings.Contains(s, "exporter.bench falls behind") {
				r = s
				return true
			}
		}
		return false
	})
	if !strings.Contains(r, "3 spans dropped") || !strings.Contains(r, "OTEL_BSP_MAX_QUEUE_SIZE=4") {
		t.Errorf("drop report %q: want the count and the bound", r)
	}
	pollUntil(t, "the queue exported", func() bool { return exp.count() == 10 })

	// The exporter fails: a flush loses the batch it fails on and the
	// one queued behind it.
	exp.mu.Lock()
	exp.gate, exp.failing = nil, true
	exp.mu.Unlock()
	endSpans(tel.tp, 1)
	endSpans(tel.tp, 1) // a full batch: exported (and failing) at once
	pollUntil(t, "the failed export counted", func() bool { return b.counts().Lost == 2 })
	endSpans(tel.tp, 1)
	if err := b.ForceFlush(context.Background()); err == nil {
		t.Fatal("ForceFlush of a failing exporter: no error")
	}

	// The second exporter, unnamed, has its own queue of 4: it may have
	// dropped some of the burst of 7 too.
	if err := tel.batchers[1].ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := SpanCounts{Exporter: "exporter.bench", Exported: 10, Dropped: 3, Lost: 3}
	counts := tel.SpanCounts()
	if len(counts) != 2 || counts[0] != want || counts[1].Exporter != "exporter1" || counts[1].Exported+counts[1].Dropped != 16 || counts[1].Lost != 0 {
		t.Errorf("SpanCounts = %+v, want %+v first, then the unnamed exporter's 16 spans", counts, want)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if !strings.HasPrefix(m.Name, "argus.telemetry.spans.") {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				e, _ := dp.Attributes.Value("exporter")
				reason, _ := dp.Attributes.Value("reason")
				got[m.Name+" "+e.AsString()+" "+reason.AsString()] = dp.Value
			}
		}
	}
	for k, v := range map[string]int64{
		"argus.telemetry.spans.exported exporter.bench ":             10,
		"argus.telemetry.spans.dropped exporter.bench queue_full":    3,
		"argus.telemetry.spans.dropped exporter.bench export_failed": 3,
		"argus.telemetry.spans.exported exporter1 ":                  int64(counts[1].Exported),
		"argus.telemetry.spans.dropped exporter1 queue_full":         int64(counts[1].Dropped),
		"argus.telemetry.spans.dropped exporter1 export_failed":      0,
	} {
		if got[k] != v {
			t.Errorf("%s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
}
