package otlpwire

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// sdkClient captures what the SDK's own OTLP exporter would send: its
// transform's ResourceSpans, before any transport.
type sdkClient struct{ got []*tracepb.ResourceSpans }

func (c *sdkClient) Start(context.Context) error { return nil }
func (c *sdkClient) Stop(context.Context) error  { return nil }
func (c *sdkClient) UploadTraces(_ context.Context, rs []*tracepb.ResourceSpans) error {
	c.got = append(c.got, rs...)
	return nil
}

// sdkRequest is the request the SDK's OTLP exporter makes of spans.
func sdkRequest(tb testing.TB, spans []sdktrace.ReadOnlySpan) *coltracepb.ExportTraceServiceRequest {
	tb.Helper()
	c := &sdkClient{}
	exp, err := otlptrace.New(context.Background(), c)
	if err != nil {
		tb.Fatal(err)
	}
	if err := exp.ExportSpans(context.Background(), spans); err != nil {
		tb.Fatal(err)
	}
	return &coltracepb.ExportTraceServiceRequest{ResourceSpans: c.got}
}

// ours decodes what AppendRequest writes for spans.
func ours(tb testing.TB, spans []sdktrace.ReadOnlySpan) *coltracepb.ExportTraceServiceRequest {
	tb.Helper()
	b := AppendRequest([]byte("prefix"), spans)
	if string(b[:6]) != "prefix" {
		tb.Fatalf("the buffer's bytes before the request changed: %q", b[:6])
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b[6:], &req); err != nil {
		tb.Fatalf("our encoding does not decode: %v", err)
	}
	return &req
}

// sameRequest fails unless both requests carry the same message. The
// SDK's transform lists resources in map order; both are sorted first.
func sameRequest(t *testing.T, want, got *coltracepb.ExportTraceServiceRequest) {
	t.Helper()
	for _, r := range []*coltracepb.ExportTraceServiceRequest{want, got} {
		slices.SortFunc(r.ResourceSpans, func(a, b *tracepb.ResourceSpans) int {
			return strings.Compare(protojson.Format(a.Resource), protojson.Format(b.Resource))
		})
	}
	if !proto.Equal(want, got) {
		t.Errorf("encodings differ\nSDK:  %s\nours: %s", protojson.Format(want), protojson.Format(got))
	}
}

// record runs f with a tracer of a provider over res and returns the
// spans it ended.
func record(res *resource.Resource, limits sdktrace.SpanLimits, f func(tp trace.TracerProvider)) []sdktrace.ReadOnlySpan {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSpanProcessor(rec), sdktrace.WithRawSpanLimits(limits))
	f(tp)
	return rec.Ended()
}

// everyAttribute holds an attribute of every type, including values whose
// encoding is longer than one length byte and zero values.
func everyAttribute() []attribute.KeyValue {
	long := strings.Repeat("x", 300)
	return []attribute.KeyValue{
		attribute.String("s", "text"), attribute.String("empty", ""), attribute.String("long", long),
		attribute.String("utf8", "héllo ✓"),
		attribute.Bool("t", true), attribute.Bool("f", false),
		attribute.Int64("i", -42), attribute.Int64("zero", 0), attribute.Int64("max", math.MaxInt64),
		attribute.Float64("d", 3.25), attribute.Float64("negzero", math.Copysign(0, -1)), attribute.Float64("nan", math.NaN()),
		attribute.BoolSlice("bs", []bool{true, false}), attribute.Int64Slice("is", []int64{1, -2, 0}),
		attribute.Float64Slice("ds", []float64{0.5, 0}), attribute.StringSlice("ss", []string{"a", "", long}),
		attribute.StringSlice("noitems", []string{}),
		attribute.ByteSlice("bytes", []byte{0, 1, 2}), attribute.ByteSlice("nobytes", nil),
		attribute.Slice("mixed", attribute.StringValue("a"), attribute.IntValue(1), attribute.MapValue(attribute.Bool("in", true))),
		attribute.Map("map", attribute.String("k", "v"), attribute.Slice("inner", attribute.BoolValue(false))),
		{Key: "emptyvalue"},
	}
}

func TestEncodesWhatTheSDKEncodes(t *testing.T) {
	res := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0",
		attribute.String("service.name", "argus"), attribute.String("service.version", "test"))
	remote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6},
		TraceFlags: trace.FlagsSampled, Remote: true,
	})
	ts, err := trace.ParseTraceState("vendor=value,other=x")
	if err != nil {
		t.Fatal(err)
	}
	remote = remote.WithTraceState(ts)
	limits := sdktrace.NewSpanLimits()
	limits.AttributeCountLimit = 40
	limits.EventCountLimit = 2
	limits.LinkCountLimit = 1
	at := time.Date(2026, 12, 2, 10, 0, 0, 123, time.UTC)

	spans := record(res, limits, func(tp trace.TracerProvider) {
		tr := tp.Tracer("github.com/argusmcp/argus")
		other := tp.Tracer("other", trace.WithInstrumentationVersion("1.2.3"),
			trace.WithSchemaURL("https://example.com/schema"),
			trace.WithInstrumentationAttributes(attribute.String("scope.attr", "v")))
		ctx := trace.ContextWithRemoteSpanContext(context.Background(), remote)
		ctx, server := tr.Start(ctx, "mcp.call_tool.echo", trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(at))
		server.SetAttributes(everyAttribute()...)
		server.SetAttributes(attribute.String("s", "again")) // a duplicate key
		_, client := tr.Start(ctx, "tools/call echo", trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(at))
		client.RecordError(errors.New("boom"), trace.WithTimestamp(at))
		client.SetStatus(codes.Error, "boom")
		client.End(trace.WithTimestamp(at.Add(time.Millisecond)))
		for i := range 4 { // two dropped
			server.AddEvent(fmt.Sprintf("event %d", i), trace.WithTimestamp(at), trace.WithAttributes(attribute.Int("n", i)))
		}
		server.SetStatus(codes.Ok, "")
		server.End(trace.WithTimestamp(at.Add(2 * time.Millisecond)))

		_, linked := other.Start(context.Background(), strings.Repeat("n", 200),
			trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithLinks(trace.Link{SpanContext: remote, Attributes: []attribute.KeyValue{attribute.String("why", "batch")}},
				trace.Link{SpanContext: remote}), // dropped
			trace.WithTimestamp(time.Unix(0, 0)))
		big := make([]attribute.KeyValue, 0, 45) // over the count limit, and a span over 16 KiB
		for i := range 45 {
			big = append(big, attribute.String(fmt.Sprintf("k%d", i), strings.Repeat("v", 500)))
		}
		linked.SetAttributes(big...)
		linked.End(trace.WithTimestamp(at))
		for _, k := range []trace.SpanKind{trace.SpanKindInternal, trace.SpanKindConsumer, trace.SpanKindUnspecified, 42} {
			_, s := other.Start(context.Background(), "kind", trace.WithSpanKind(k))
			s.End()
		}
	})
	// A second resource, with no schema, and an empty one.
	spans = append(spans, record(resource.NewSchemaless(attribute.Int("pid", 7)), limits, func(tp trace.TracerProvider) {
		_, s := tp.Tracer("").Start(context.Background(), "scopeless")
		s.End()
	})...)
	spans = append(spans, record(resource.Empty(), limits, func(tp trace.TracerProvider) {
		_, s := tp.Tracer("x").Start(context.Background(), "bare")
		s.End()
	})...)
	spans = append(spans, nil) // skipped, as the SDK skips it

	sameRequest(t, sdkRequest(t, spans), ours(t, spans))
	// Interleaved groups: each span still goes under its own.
	slices.Reverse(spans)
	sameRequest(t, sdkRequest(t, spans), ours(t, spans))
}

func TestNoSpansNoBytes(t *testing.T) {
	if b := AppendRequest(nil, nil); len(b) != 0 {
		t.Errorf("no spans encoded as %x", b)
	}
	if b := AppendRequest(nil, []sdktrace.ReadOnlySpan{nil}); len(b) != 0 {
		t.Errorf("a nil span encoded as %x", b)
	}
}

// Spans as Argus's telemetry records a call's two: a SERVER span and its
// backend request's CLIENT span, with their attributes.
func callSpans(n int) []sdktrace.ReadOnlySpan {
	res := resource.NewSchemaless(attribute.String("service.name", "argus-mcp"), attribute.String("service.version", "bench"))
	return record(res, sdktrace.NewSpanLimits(), func(tp trace.TracerProvider) {
		tr := tp.Tracer("github.com/argusmcp/argus")
		for i := range n / 2 {
			ctx, server := tr.Start(context.Background(), "mcp.call_tool.demo_echo", trace.WithSpanKind(trace.SpanKindServer))
			_, client := tr.Start(ctx, "tools/call echo", trace.WithSpanKind(trace.SpanKindClient))
			client.SetAttributes(attribute.String("mcp.method.name", "tools/call"), attribute.String("mcp.backend", "demo"),
				attribute.String("gen_ai.tool.name", "echo"), attribute.String("network.transport", "pipe"),
				attribute.String("process.command", "/usr/local/bin/demo-server"))
			client.End()
			server.SetAttributes(attribute.String("mcp.method.name", "tools/call"), attribute.String("mcp.request_id", "7f9c2ad0-5a3e-4a57-9d41-3c1e8a3d2b10"),
				attribute.String("mcp.method", "call_tool"), attribute.String("mcp.capability", "demo_echo"),
				attribute.String("gen_ai.tool.name", "demo_echo"), attribute.String("jsonrpc.request.id", fmt.Sprint(i)),
				attribute.String("mcp.session.id", "P4Y6XJ2HQ7N5T3W2KZ4DMA6B5C"), attribute.String("mcp.protocol.version", "2025-11-25"),
				attribute.String("network.transport", "tcp"), attribute.String("client.address", "127.0.0.1"),
				attribute.String("mcp.backend", "demo"))
			server.End()
		}
	})
}

func TestCallSpans(t *testing.T) {
	spans := callSpans(8)
	sameRequest(t, sdkRequest(t, spans), ours(t, spans))
}

// BenchmarkEncode is what turning a full batch of a call's spans (512,
// OTEL_BSP_MAX_EXPORT_BATCH_SIZE's default) into the bytes of an export
// request costs: the SDK's transform and protobuf marshalling, and
// AppendRequest into a reused buffer. Per span: divide by 512.
func BenchmarkEncode(b *testing.B) {
	spans := callSpans(512)
	b.Run("sdk", func(b *testing.B) {
		c := &sdkClient{}
		exp, err := otlptrace.New(context.Background(), c)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			c.got = c.got[:0]
			exp.ExportSpans(context.Background(), spans)
			if _, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: c.got}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("otlpwire", func(b *testing.B) {
		var buf []byte
		b.ReportAllocs()
		for b.Loop() {
			buf = AppendRequest(buf[:0], spans)
		}
	})
}

// A string that is not UTF-8, wherever it is in a span, is sent with
// U+FFFD in place of the bad bytes: protobuf strings are UTF-8, the SDK's
// exporter fails the whole batch over one such string, and a collector
// refuses the request. Everything else is encoded as the SDK encodes it.
func TestInvalidUTF8IsReplaced(t *testing.T) {
	const bad, fixed = "id-\xff\xfe-\xc3", "id-\uFFFD-\uFFFD"
	spans := record(resource.NewSchemaless(attribute.String("service.name", "argus")), sdktrace.NewSpanLimits(), func(tp trace.TracerProvider) {
		_, s := tp.Tracer("t").Start(context.Background(), "name "+bad)
		s.SetAttributes(attribute.String("jsonrpc.request.id", bad), attribute.String("key "+bad, "v"),
			attribute.StringSlice("list", []string{"ok", bad}))
		s.AddEvent("event " + bad)
		s.SetStatus(codes.Error, "message "+bad)
		s.End()
	})
	if _, err := proto.Marshal(sdkRequest(t, spans)); err == nil {
		t.Error("the SDK's encoding accepted invalid UTF-8: this test's premise is gone")
	}
	got := ours(t, spans) // proto.Unmarshal checks UTF-8
	sp := got.ResourceSpans[0].ScopeSpans[0].Spans[0]
	if sp.Name != "name "+fixed || sp.Status.Message != "message "+fixed || sp.Events[0].Name != "event "+fixed {
		t.Errorf("name %q, status %q, event %q", sp.Name, sp.Status.Message, sp.Events[0].Name)
	}
	want := map[string]string{"jsonrpc.request.id": fixed, "key " + fixed: "v", "list": fixed}
	for _, kv := range sp.Attributes {
		v := kv.Value.GetStringValue()
		if arr := kv.Value.GetArrayValue(); arr != nil {
			v = arr.Values[1].GetStringValue()
		}
		if want[kv.Key] != v {
			t.Errorf("attribute %q = %q, want %q", kv.Key, v, want[kv.Key])
		}
		delete(want, kv.Key)
	}
	if len(want) > 0 {
		t.Errorf("attributes missing: %v", want)
	}
}
