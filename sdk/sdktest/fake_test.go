package sdktest_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/argusmcp/argus/sdk"
	"github.com/argusmcp/argus/sdk/sdktest"
)

func TestFakesPassConformance(t *testing.T) {
	t.Run("Sink", func(t *testing.T) { sdktest.SinkConformance(t, (&sdktest.FakeSink{}).Plugin(), "") })
	t.Run("Exporter", func(t *testing.T) { sdktest.ExporterConformance(t, (&sdktest.FakeExporter{}).Plugin(), "") })
	t.Run("Probe", func(t *testing.T) {
		f := &sdktest.FakeProbe{}
		f.Set("down", sdk.Result{Status: sdk.Unhealthy, Message: "refused"}, nil, 0)
		sdktest.ProbeConformance(t, f.Plugin(), sdktest.ProbeSuite{Cases: []sdktest.ProbeCase{
			{Name: "up", Backend: "up", Want: sdk.Healthy},
			{Name: "down", Backend: "down", Want: sdk.Unhealthy},
		}})
	})
}

func TestFakeSink(t *testing.T) {
	ctx := context.Background()
	f := &sdktest.FakeSink{}
	c := sdktest.Start(t, f.Plugin()).Sink("")
	if ack, err := c.Write(ctx, sdktest.AuditEvents(1, 3)...); err != nil || ack != 3 {
		t.Fatalf("Write = %d, %v", ack, err)
	}
	f.FailWrite(errors.New("disk full"))
	if _, err := c.Write(ctx, sdktest.AuditEvents(4, 2)...); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Write while failing: %v, want disk full", err)
	}
	f.FailWrite(nil)
	c.Stream = "other"
	if ack, err := c.Write(ctx, sdktest.AuditEvents(1, 1)...); err != nil || ack != 1 {
		t.Errorf("Write after recovery = %d, %v", ack, err)
	}
	if got := f.Seqs(); !slices.Equal(got, []uint64{1, 2, 3, 1}) {
		t.Errorf("Seqs = %v, want 1 2 3 1 (the failed batch not recorded)", got)
	}
	if got := f.Streams(); !slices.Equal(got, []string{"sdktest", "sdktest", "sdktest", "other"}) {
		t.Errorf("Streams = %v", got)
	}
	if ev := f.Events(); string(ev[0].JSON) != string(sdktest.AuditEvents(1, 1)[0].JSON) {
		t.Errorf("event 1 = %s", ev[0].JSON)
	}
	f.FailFlush(errors.New("fsync failed"))
	if _, err := c.Flush(ctx); err == nil {
		t.Error("Flush while failing succeeded")
	}
	f.FailFlush(nil)
	if _, err := c.Flush(ctx); err != nil {
		t.Errorf("Flush: %v", err)
	}
	if _, err := c.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
	if w, fl, cl := f.Calls(); w != 2 || fl != 2 || cl != 1 {
		// The SDK flushes before it closes, so Close adds a flush.
		t.Errorf("Calls = %d writes, %d flushes, %d closes; want 2, 2, 1", w, fl, cl)
	}
}

func TestFakeFailNew(t *testing.T) {
	sink, probe, exp := &sdktest.FakeSink{}, &sdktest.FakeProbe{}, &sdktest.FakeExporter{}
	for _, tc := range []struct {
		fail func(error)
		p    *sdk.Plugin
		kind sdktest.Kind
	}{
		{sink.FailNew, sink.Plugin(), sdktest.KindAuditSink},
		{probe.FailNew, probe.Plugin(), sdktest.KindHealthProbe},
		{exp.FailNew, exp.Plugin(), sdktest.KindTelemetryExporter},
	} {
		tc.fail(errors.New("no credentials"))
		if out := sdktest.Start(t, tc.p).Configure(tc.kind, "", sdktest.ConfigureOptions{}); !strings.Contains(out, "no credentials") {
			t.Errorf("%s: Configure = %q, want the New error", tc.kind, out)
		}
		tc.fail(nil)
		sdktest.Start(t, tc.p).MustConfigure(tc.kind, "", sdktest.ConfigureOptions{})
	}
}

func TestFakeProbe(t *testing.T) {
	f := &sdktest.FakeProbe{}
	f.Set("slow", sdk.Result{Status: sdk.Healthy}, nil, time.Minute)
	f.Set("broken", sdk.Result{}, errors.New("connection reset"), 0)
	f.Set("meh", sdk.Result{Status: sdk.Degraded, Message: "slow", Latency: time.Second}, nil, 0)
	p := sdktest.Start(t, f.Plugin()).Probe("", nil)
	ctx := context.Background()
	for backend, want := range map[string]sdk.Result{
		"other":  {Status: sdk.Healthy},
		"broken": {Status: sdk.Unhealthy, Message: "connection reset"},
		"meh":    {Status: sdk.Degraded, Message: "slow", Latency: time.Second},
	} {
		got, err := p.Check(ctx, backend)
		if err != nil || got.Status != want.Status || got.Message != want.Message || (want.Latency != 0 && got.Latency != want.Latency) {
			t.Errorf("Check(%s) = %+v, %v; want %+v", backend, got, err, want)
		}
	}
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if res, err := p.Check(tctx, "slow"); err == nil && res.Status == sdk.Healthy {
		t.Errorf("Check(slow) with a 50ms deadline = %+v, want it cut short", res)
	}
	if got := f.Checks(); len(got) != 4 || !slices.Contains(got, "slow") || !slices.Contains(got, "other") {
		t.Errorf("Checks = %v", got)
	}
}

func TestFakeExporter(t *testing.T) {
	ctx := context.Background()
	f := &sdktest.FakeExporter{}
	h := sdktest.Start(t, f.Plugin())
	traces, metrics := h.Exporter("")
	if _, err := traces.Export(ctx, sdktest.TraceRequest(2)); err != nil {
		t.Fatal(err)
	}
	f.FailTraces(status.Error(codes.ResourceExhausted, "quota"))
	if _, err := traces.Export(ctx, sdktest.TraceRequest(5)); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("failing trace export: %v, want ResourceExhausted kept", err)
	}
	f.FailMetrics(errors.New("collector down"))
	if _, err := metrics.Export(ctx, sdktest.MetricsRequest()); status.Code(err) != codes.Unavailable {
		t.Errorf("failing metric export: %v, want Unavailable", err)
	}
	f.FailMetrics(nil)
	if _, err := metrics.Export(ctx, sdktest.MetricsRequest()); err != nil {
		t.Fatal(err)
	}
	if f.Spans() != 2 || len(f.TraceRequests()) != 1 || len(f.MetricRequests()) != 1 {
		t.Errorf("recorded %d spans in %d trace requests, %d metric requests; want 2, 1, 1", f.Spans(), len(f.TraceRequests()), len(f.MetricRequests()))
	}
	if name := f.MetricRequests()[0].GetResourceMetrics()[0].GetScopeMetrics()[0].GetMetrics()[0].GetName(); name != "argus.requests" {
		t.Errorf("metric name %q", name)
	}
	if err := h.Shutdown(); err != nil || f.Closes() != 1 {
		t.Errorf("Shutdown = %v, closes = %d; want nil, 1", err, f.Closes())
	}
}
