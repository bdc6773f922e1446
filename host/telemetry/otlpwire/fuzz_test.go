package otlpwire

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// fuzzInput hands out the fuzzer's bytes as choices; past the end every
// choice is zero.
type fuzzInput struct{ b []byte }

func (in *fuzzInput) byte() byte {
	if len(in.b) == 0 {
		return 0
	}
	c := in.b[0]
	in.b = in.b[1:]
	return c
}

// n is a choice in [0, k).
func (in *fuzzInput) n(k int) int { return int(in.byte()) % k }

func (in *fuzzInput) u64() uint64 {
	var x [8]byte
	for i := range x {
		x[i] = in.byte()
	}
	return binary.LittleEndian.Uint64(x[:])
}

// str is a string of the input's bytes (so possibly not UTF-8); a length
// byte over 0xf0 repeats a short piece to make a long string cheaply.
func (in *fuzzInput) str() string {
	l := int(in.byte())
	if l >= 0xf0 {
		piece := in.take(1 + in.n(4))
		return strings.Repeat(piece, (l-0xef)*40)
	}
	return in.take(l % 24)
}

func (in *fuzzInput) take(l int) string {
	l = min(l, len(in.b))
	s := string(in.b[:l])
	in.b = in.b[l:]
	return s
}

func (in *fuzzInput) float() float64 {
	switch in.n(6) {
	case 0:
		return math.NaN()
	case 1:
		return math.Copysign(0, -1)
	case 2:
		return math.Inf(1)
	case 3:
		return float64(int8(in.byte())) / 4
	}
	return math.Float64frombits(in.u64())
}

func (in *fuzzInput) int64() int64 {
	if in.n(2) == 0 {
		return int64(int8(in.byte()))
	}
	return int64(in.u64())
}

func (in *fuzzInput) value(depth int) attribute.Value {
	kinds := 13
	if depth >= 3 {
		kinds = 11 // no more nesting
	}
	switch in.n(kinds) {
	case 0:
		return attribute.Value{}
	case 1:
		return attribute.BoolValue(in.n(2) == 1)
	case 2:
		return attribute.Int64Value(in.int64())
	case 3:
		return attribute.Float64Value(in.float())
	case 4:
		return attribute.StringValue(in.str())
	case 5:
		xs := make([]bool, in.n(5))
		for i := range xs {
			xs[i] = in.n(2) == 1
		}
		return attribute.BoolSliceValue(xs)
	case 6:
		xs := make([]int64, in.n(6))
		for i := range xs {
			xs[i] = in.int64()
		}
		return attribute.Int64SliceValue(xs)
	case 7:
		xs := make([]float64, in.n(6))
		for i := range xs {
			xs[i] = in.float()
		}
		return attribute.Float64SliceValue(xs)
	case 8:
		xs := make([]string, in.n(6))
		for i := range xs {
			xs[i] = in.str()
		}
		return attribute.StringSliceValue(xs)
	case 9:
		switch in.n(3) {
		case 0:
			return attribute.ByteSliceValue(nil)
		case 1:
			return attribute.ByteSliceValue([]byte{})
		}
		return attribute.ByteSliceValue([]byte(in.str()))
	case 10:
		return attribute.StringValue("")
	case 11:
		xs := make([]attribute.Value, in.n(5))
		for i := range xs {
			xs[i] = in.value(depth + 1)
		}
		return attribute.SliceValue(xs...)
	default:
		return attribute.MapValue(in.attrs(depth+1, 5)...)
	}
}

func (in *fuzzInput) attrs(depth, most int) []attribute.KeyValue {
	kvs := make([]attribute.KeyValue, in.n(most+1))
	for i := range kvs {
		key := in.str()
		if in.n(4) == 0 && i > 0 {
			key = string(kvs[i-1].Key) // a duplicate key
		}
		kvs[i] = attribute.KeyValue{Key: attribute.Key(key), Value: in.value(depth)}
	}
	return kvs
}

func (in *fuzzInput) time() time.Time {
	switch in.n(4) {
	case 0:
		return time.Time{}
	case 1:
		return time.Unix(0, int64(in.u64()))
	case 2:
		return time.Unix(0, -int64(in.byte())) // before the epoch
	}
	return time.Date(2026, 12, 2, 10, 0, 0, int(in.byte()), time.UTC)
}

func (in *fuzzInput) traceState() trace.TraceState {
	var ts trace.TraceState
	for range in.n(3) {
		key := []string{"vendor", "a1", "x@y", "k"}[in.n(4)]
		val := []string{"value", "v=1", "", "x"}[in.n(4)]
		if next, err := ts.Insert(key, val); err == nil {
			ts = next
		}
	}
	return ts
}

func (in *fuzzInput) spanContext() trace.SpanContext {
	var tid trace.TraceID
	var sid trace.SpanID
	if in.n(5) > 0 { // else invalid, all zero
		binary.LittleEndian.PutUint64(tid[:], in.u64())
		tid[15] = 1
		binary.LittleEndian.PutUint64(sid[:], in.u64()|1)
	}
	return trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.TraceFlags(in.byte()),
		TraceState: in.traceState(), Remote: in.n(2) == 1,
	})
}

func (in *fuzzInput) resource() *resource.Resource {
	switch in.n(5) {
	case 0:
		return nil // only a stub can have none
	case 1:
		return resource.Empty()
	case 2:
		return resource.NewSchemaless(in.attrs(0, 4)...)
	}
	return resource.NewWithAttributes(in.str(), in.attrs(0, 4)...)
}

func (in *fuzzInput) scope() instrumentation.Scope {
	if in.n(5) == 0 {
		return instrumentation.Scope{}
	}
	return instrumentation.Scope{Name: in.str(), Version: in.str(), SchemaURL: in.str(),
		Attributes: attribute.NewSet(in.attrs(0, 3)...)}
}

func (in *fuzzInput) limits() sdktrace.SpanLimits {
	l := sdktrace.NewSpanLimits()
	pick := func() int { return in.n(6) - 1 } // -1: unlimited
	if in.n(2) == 1 {
		l.AttributeValueLengthLimit = pick()
		l.AttributeValueDepthLimit = pick()
		l.AttributeCountLimit = pick()
		l.EventCountLimit = pick()
		l.LinkCountLimit = pick()
		l.AttributePerEventCountLimit = pick()
		l.AttributePerLinkCountLimit = pick()
	}
	return l
}

// fuzzIDs hands out trace and span ids from a counter, so that a failing
// input reproduces byte for byte.
type fuzzIDs struct{ n uint64 }

func (g *fuzzIDs) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	g.n++
	var tid trace.TraceID
	binary.BigEndian.PutUint64(tid[8:], g.n)
	return tid, g.NewSpanID(ctx, tid)
}

func (g *fuzzIDs) NewSpanID(context.Context, trace.TraceID) trace.SpanID {
	g.n++
	var sid trace.SpanID
	binary.BigEndian.PutUint64(sid[:], g.n)
	return sid
}

// recordSpans ends spans made through the SDK (its limits, truncation,
// dropped counts, remote parents) with a provider over res.
func (in *fuzzInput) recordSpans(res *resource.Resource, ids *fuzzIDs) []sdktrace.ReadOnlySpan {
	if res == nil {
		res = resource.Empty()
	}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSpanProcessor(rec),
		sdktrace.WithRawSpanLimits(in.limits()), sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithIDGenerator(ids))
	var tracers []trace.Tracer
	for range 1 + in.n(2) {
		sc := in.scope()
		tracers = append(tracers, tp.Tracer(sc.Name, trace.WithInstrumentationVersion(sc.Version),
			trace.WithSchemaURL(sc.SchemaURL), trace.WithInstrumentationAttributeSet(sc.Attributes)))
	}
	for range in.n(4) {
		tr := tracers[in.n(len(tracers))]
		ctx := context.Background()
		if in.n(2) == 1 {
			ctx = trace.ContextWithRemoteSpanContext(ctx, in.spanContext())
		}
		opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKind(in.n(7))), trace.WithTimestamp(in.time()),
			trace.WithAttributes(in.attrs(0, 4)...)}
		for range in.n(3) {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: in.spanContext(), Attributes: in.attrs(0, 3)}))
		}
		_, s := tr.Start(ctx, in.str(), opts...)
		for range in.n(4) {
			switch in.n(4) {
			case 0:
				s.SetAttributes(in.attrs(0, 3)...)
			case 1:
				s.AddEvent(in.str(), trace.WithTimestamp(in.time()), trace.WithAttributes(in.attrs(0, 3)...))
			case 2:
				s.AddLink(trace.Link{SpanContext: in.spanContext(), Attributes: in.attrs(0, 2)})
			case 3:
				s.SetStatus(codes.Code(in.n(4)), in.str())
			}
		}
		if in.n(3) == 0 {
			s.SetName(in.str())
		}
		s.End(trace.WithTimestamp(in.time()))
	}
	return rec.Ended()
}

// stubSpan is a ReadOnlySpan the SDK would not make: any kind, status
// code, counts (negative, huge), no resource, nil-ish everything.
func (in *fuzzInput) stubSpan(res *resource.Resource) sdktrace.ReadOnlySpan {
	s := tracetest.SpanStub{
		Name: in.str(), SpanContext: in.spanContext(), Parent: in.spanContext(),
		SpanKind: trace.SpanKind(in.n(8)), StartTime: in.time(), EndTime: in.time(),
		Attributes: in.attrs(0, 4),
		Status:     sdktrace.Status{Code: codes.Code(in.n(5)), Description: in.str()},
		Resource:   res, InstrumentationScope: in.scope(),
	}
	counts := []int{0, 1, -1, math.MaxInt32, math.MaxUint32 + 1, math.MinInt}
	s.DroppedAttributes, s.DroppedEvents, s.DroppedLinks = counts[in.n(6)], counts[in.n(6)], counts[in.n(6)]
	for range in.n(3) {
		s.Events = append(s.Events, sdktrace.Event{Name: in.str(), Time: in.time(), Attributes: in.attrs(0, 3),
			DroppedAttributeCount: counts[in.n(6)]})
	}
	for range in.n(3) {
		s.Links = append(s.Links, sdktrace.Link{SpanContext: in.spanContext(), Attributes: in.attrs(0, 3),
			DroppedAttributeCount: counts[in.n(6)]})
	}
	return s.Snapshot()
}

// fuzzSpans builds the spans of an export from data: several resources,
// each with spans recorded by the SDK and stubs, in interleaved order,
// with nil spans among them.
func fuzzSpans(data []byte) []sdktrace.ReadOnlySpan {
	in := &fuzzInput{b: data}
	var resources []*resource.Resource
	for range 1 + in.n(3) {
		resources = append(resources, in.resource())
	}
	ids := &fuzzIDs{}
	var spans []sdktrace.ReadOnlySpan
	for len(in.b) > 0 && len(spans) < 64 {
		res := resources[in.n(len(resources))]
		switch in.n(4) {
		case 0:
			spans = append(spans, nil)
		case 1:
			spans = append(spans, in.stubSpan(res))
		default:
			spans = append(spans, in.recordSpans(res, ids)...)
		}
	}
	if in.n(2) == 1 {
		slices.Reverse(spans)
	}
	return spans
}

// repairUTF8 replaces invalid UTF-8 in every string field of m by U+FFFD,
// as AppendRequest does.
func repairUTF8(m protoreflect.Message) {
	type set struct {
		fd protoreflect.FieldDescriptor
		v  protoreflect.Value
	}
	var sets []set
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				switch fd.Kind() {
				case protoreflect.StringKind:
					l.Set(i, protoreflect.ValueOfString(strings.ToValidUTF8(l.Get(i).String(), "\uFFFD")))
				case protoreflect.MessageKind:
					repairUTF8(l.Get(i).Message())
				}
			}
		case fd.IsMap():
			panic("no maps in OTLP traces")
		case fd.Kind() == protoreflect.StringKind:
			if s := v.String(); !utf8.ValidString(s) {
				sets = append(sets, set{fd, protoreflect.ValueOfString(strings.ToValidUTF8(s, "\uFFFD"))})
			}
		case fd.Kind() == protoreflect.MessageKind:
			repairUTF8(v.Message())
		}
		return true
	})
	for _, s := range sets {
		m.Set(s.fd, s.v)
	}
}

// FuzzEncode checks that AppendRequest's bytes decode (UTF-8 checked) to
// what the SDK's OTLP exporter would send for the same spans, with its
// invalid UTF-8 repaired the same way.
func FuzzEncode(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 3, 2, 1, 'a', 'b', 2})
	f.Add([]byte("\x02\x03\x05hello\x02\x02\x03\x01\x04abcd\x00\x01\x03\x04name\x02\x01\x01\x01"))
	f.Add([]byte("\x01\x04\x03svc\x02\x03k1\x04\x03v\xff1\x05\x03k2\x07\x03\x00\x01\x02\x00\x02\x01\x02\x01\x03op\xf3ab"))
	f.Add([]byte(strings.Repeat("\x07\x0c\x05\x01\xff\x03\x02\x09\x02\xf1xy", 8)))
	f.Add([]byte(strings.Repeat("\x03\x01\x04\x02\x01\x02\x01\x05hello\x06\x03\x00\x01\x02", 6)))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 8 {
		seed := make([]byte, 64<<i%1500+100)
		for j := range seed {
			seed[j] = byte(rng.Uint32())
		}
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		spans := fuzzSpans(data)
		want := sdkRequest(t, spans)
		repairUTF8(want.ProtoReflect())
		got := ours(t, spans)
		for _, r := range []*coltracepb.ExportTraceServiceRequest{want, got} {
			slices.SortStableFunc(r.ResourceSpans, func(a, b *tracepb.ResourceSpans) int {
				return strings.Compare(protojson.Format(a), protojson.Format(b))
			})
		}
		if !proto.Equal(want, got) {
			t.Errorf("encodings differ\nSDK:  %s\nours: %s", protojson.Format(want), protojson.Format(got))
		}
	})
}

// A tracer whose instrumentation attributes hold a float64 slice with a
// NaN: its scope is not == to itself (the slice is kept as a [n]float64
// array), so AppendRequest, which files spans under a scope by comparing
// it with ==, writes the ScopeSpans with no spans in it: the span is lost.
// The SDK's transform (a map lookup that misses) gives each such span a
// ScopeSpans of its own.
func TestScopeWithNaNKeepsItsSpans(t *testing.T) {
	spans := record(resource.Empty(), sdktrace.NewSpanLimits(), func(tp trace.TracerProvider) {
		tr := tp.Tracer("t", trace.WithInstrumentationAttributes(attribute.Float64Slice("x", []float64{math.NaN()})))
		_, s := tr.Start(context.Background(), "s")
		s.End()
	})
	got := ours(t, spans)
	n := 0
	for _, rs := range got.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			n += len(ss.Spans)
		}
	}
	if n != 1 {
		t.Errorf("%d spans encoded, want 1:\n%s", n, protojson.Format(got))
	}
	want := sdkRequest(t, spans)
	if !proto.Equal(want, got) {
		t.Errorf("encodings differ\nSDK:  %s\nours: %s", protojson.Format(want), protojson.Format(got))
	}
}
