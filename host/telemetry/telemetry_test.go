package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/argusmcp/argus/host/request"
)

const (
	clientTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientParent = "00f067aa0ba902b7"
	headerTrace  = "0af7651916cd43dd8448eb211c80319c"
)

type fixture struct {
	tel    *Telemetry
	spans  *tracetest.InMemoryExporter
	reader *sdkmetric.ManualReader
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{spans: tracetest.NewInMemoryExporter(), reader: sdkmetric.NewManualReader()}
	tel, err := New(Options{ServiceName: "argus-test", SpanExporters: []sdktrace.SpanExporter{f.spans}, MetricReaders: []sdkmetric.Reader{f.reader}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tel.Shutdown(context.Background()) })
	f.tel = tel
	return f
}

// run passes one tools/call through a chain with the telemetry observer;
// the terminal handler plays the router, calling the backend hook.
func (f *fixture) run(t *testing.T, c *request.Call, backendMeta *map[string]any, res mcp.Result, err error) {
	t.Helper()
	chain := request.NewChain(func(ctx context.Context, c *request.Call) (mcp.Result, error) {
		c.Backend, c.OriginalName = "demo", "search"
		fwd := &mcp.CallToolParams{Name: "search", Meta: c.Params.GetMeta()}
		if c.BackendHook == nil {
			t.Fatal("telemetry set no backend hook")
		}
		_, done := c.BackendHook(ctx, c, request.Backend{Name: "demo", Type: "streamable-http", URL: "http://127.0.0.1:3001/mcp"}, fwd)
		if backendMeta != nil {
			*backendMeta = fwd.GetMeta()
		}
		done(res, err)
		return res, err
	}, []request.Observer{f.tel.Observer()}, nil)
	chain.Run(context.Background(), c)
	if err := f.tel.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func toolCall(meta map[string]any, header http.Header) *request.Call {
	p := &mcp.CallToolParamsRaw{Name: "demo_search", Meta: meta}
	return &request.Call{ID: "req-1", SessionID: "S1", Facts: request.Facts{JSONRPCID: "7", ClientIP: "127.0.0.1", UserID: "alice", Transport: request.TransportHTTP},
		ProtocolVersion: "2025-11-25", Method: "tools/call", Capability: "demo_search", Params: p, Header: header}
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestServerAndClientSpans(t *testing.T) {
	f := newFixture(t)
	clientMeta := map[string]any{"traceparent": "00-" + clientTrace + "-" + clientParent + "-01", "progressToken": 3}
	var backendMeta map[string]any
	f.run(t, toolCall(clientMeta, http.Header{"Traceparent": {"00-" + headerTrace + "-" + clientParent + "-01"}}), &backendMeta,
		&mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil)

	spans := f.spans.GetSpans().Snapshots()
	if len(spans) != 2 {
		t.Fatalf("%d spans", len(spans))
	}
	client, server := spans[0], spans[1]
	if server.Name() != "mcp.call_tool.demo_search" || server.SpanKind() != trace.SpanKindServer {
		t.Errorf("server span %q kind %v", server.Name(), server.SpanKind())
	}
	if got := server.SpanContext().TraceID().String(); got != clientTrace {
		t.Errorf("trace id %s: _meta must win over the header (%s)", got, clientTrace)
	}
	if server.Parent().SpanID().String() != clientParent {
		t.Errorf("server parent %s", server.Parent().SpanID())
	}
	a := attrs(server)
	for k, want := range map[attribute.Key]string{
		"mcp.method": "call_tool", "mcp.capability": "demo_search", "mcp.request_id": "req-1", "mcp.backend": "demo",
		"mcp.method.name": "tools/call", "gen_ai.tool.name": "demo_search", "jsonrpc.request.id": "7",
		"mcp.session.id": "S1", "mcp.protocol.version": "2025-11-25", "network.transport": "tcp", "client.address": "127.0.0.1", "enduser.id": "alice",
	} {
		if a[k].AsString() != want {
			t.Errorf("server %s = %q, want %q", k, a[k].AsString(), want)
		}
	}
	if _, ok := a["error.type"]; ok {
		t.Error("error.type on a success")
	}

	if client.Name() != "tools/call search" || client.SpanKind() != trace.SpanKindClient {
		t.Errorf("client span %q kind %v", client.Name(), client.SpanKind())
	}
	if client.Parent().SpanID() != server.SpanContext().SpanID() {
		t.Error("client span is not the server span's child")
	}
	ca := attrs(client)
	if ca["server.address"].AsString() != "127.0.0.1" || ca["server.port"].AsInt64() != 3001 || ca["gen_ai.tool.name"].AsString() != "search" {
		t.Errorf("client attributes %v", ca)
	}
	want := "00-" + clientTrace + "-" + client.SpanContext().SpanID().String() + "-01"
	if backendMeta["traceparent"] != want || backendMeta["progressToken"] != 3 {
		t.Errorf("backend _meta = %v, want traceparent %s", backendMeta, want)
	}
	if clientMeta["traceparent"] != "00-"+clientTrace+"-"+clientParent+"-01" {
		t.Error("the client's own _meta was modified")
	}
}

func TestHeaderPropagationAndErrors(t *testing.T) {
	tests := []struct {
		name     string
		res      mcp.Result
		err      error
		errType  string
		failures bool
	}{
		{"tool error", &mcp.CallToolResult{IsError: true}, nil, "tool_error", true},
		{"rpc error", nil, &request.Error{Outcome: request.OutcomeRPCError, Wire: &jsonrpc.Error{Code: -32001, Message: "boom"}}, "-32001", true},
		{"timeout", nil, &request.Error{Outcome: request.OutcomeTimeout, Wire: &jsonrpc.Error{Code: request.CodeBackendTimeout, Message: "slow"}, Err: errors.New("deadline")}, "timeout", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.run(t, toolCall(nil, http.Header{"Traceparent": {"00-" + headerTrace + "-" + clientParent + "-01"}}), nil, tt.res, tt.err)
			spans := f.spans.GetSpans().Snapshots()
			server := spans[1]
			if server.SpanContext().TraceID().String() != headerTrace {
				t.Errorf("header traceparent not continued: %s", server.SpanContext().TraceID())
			}
			for _, s := range spans {
				if attrs(s)["error.type"].AsString() != tt.errType || s.Status().Code.String() != "Error" {
					t.Errorf("%s span: error.type %q status %v", s.SpanKind(), attrs(s)["error.type"].AsString(), s.Status())
				}
			}
		})
	}
}

func TestOtherMethodsUseSemconvName(t *testing.T) {
	f := newFixture(t)
	chain := request.NewChain(func(context.Context, *request.Call) (mcp.Result, error) {
		return &mcp.ListToolsResult{}, nil
	}, []request.Observer{f.tel.Observer()}, nil)
	chain.Run(context.Background(), &request.Call{Method: "tools/list", Params: &mcp.ListToolsParams{}, Facts: request.Facts{Transport: request.TransportStdio}})
	f.tel.ForceFlush(context.Background())
	s := f.spans.GetSpans().Snapshots()[0]
	if s.Name() != "tools/list" || attrs(s)["network.transport"].AsString() != "pipe" {
		t.Errorf("span %q %v", s.Name(), attrs(s))
	}
}

func TestRequestMetrics(t *testing.T) {
	f := newFixture(t)
	for range 3 {
		f.run(t, toolCall(nil, nil), nil, &mcp.CallToolResult{}, nil)
	}
	f.run(t, toolCall(nil, nil), nil, &mcp.CallToolResult{IsError: true}, nil)
	var rm metricdata.ResourceMetrics
	if err := f.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			got[m.Name] = m.Data
		}
	}
	sum, ok := got["argus.requests"].(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("argus.requests: %T", got["argus.requests"])
	}
	counts := map[bool]int64{}
	for _, dp := range sum.DataPoints {
		s, _ := dp.Attributes.Value("success")
		tool, _ := dp.Attributes.Value("tool_name")
		be, _ := dp.Attributes.Value("backend")
		if tool.AsString() != "demo_search" || be.AsString() != "demo" {
			t.Errorf("labels %v", dp.Attributes.ToSlice())
		}
		counts[s.AsBool()] += dp.Value
	}
	if counts[true] != 3 || counts[false] != 1 {
		t.Errorf("argus.requests by success = %v", counts)
	}
	for _, name := range []string{"argus.request.duration", "mcp.server.operation.duration", "mcp.client.operation.duration"} {
		h, ok := got[name].(metricdata.Histogram[float64])
		if !ok {
			t.Errorf("%s: %T", name, got[name])
			continue
		}
		var n uint64
		for _, dp := range h.DataPoints {
			n += dp.Count
		}
		if n != 4 {
			t.Errorf("%s count = %d", name, n)
		}
	}
}

// BenchmarkChain shows what telemetry costs per request, and that a
// gateway with telemetry disabled (no observer in the chain) pays nothing:
// compare allocs/op of "disabled" with "bare".
func BenchmarkChain(b *testing.B) {
	terminal := func(ctx context.Context, c *request.Call) (mcp.Result, error) {
		c.Backend = "demo" // as the router sets it
		if c.BackendHook != nil {
			_, done := c.BackendHook(ctx, c, request.Backend{Name: "demo", Type: "stdio", Command: "demo"}, &mcp.CallToolParams{Name: "search"})
			done(&mcp.CallToolResult{}, nil)
		}
		return &mcp.CallToolResult{}, nil
	}
	tel, err := New(Options{SpanExporters: []sdktrace.SpanExporter{tracetest.NewNoopExporter()}, MetricReaders: []sdkmetric.Reader{sdkmetric.NewManualReader()}})
	if err != nil {
		b.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	for _, bc := range []struct {
		name      string
		observers []request.Observer
	}{
		{"bare", nil},
		{"disabled", nil}, // how the gateway builds its chain when telemetry is off
		{"enabled", []request.Observer{tel.Observer()}},
	} {
		chain := request.NewChain(terminal, bc.observers, nil, request.Auth())
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				chain.Run(context.Background(), toolCall(nil, nil))
			}
		})
	}
	// As on the lean path: what runs before the client has its answer
	// (answer-ns/op) and what waits until after (after-ns/op).
	chain := request.NewChain(terminal, []request.Observer{tel.Observer()}, nil, request.Auth())
	b.Run("enabled-lean", func(b *testing.B) {
		b.ReportAllocs()
		var answer, after time.Duration
		for b.Loop() {
			late := &request.AfterAnswer{}
			t0 := time.Now()
			chain.Run(request.WithAfterAnswer(context.Background(), late), toolCall(nil, nil))
			t1 := time.Now()
			late.Run()
			answer, after = answer+t1.Sub(t0), after+time.Since(t1)
		}
		b.ReportMetric(float64(answer.Nanoseconds())/float64(b.N), "answer-ns/op")
		b.ReportMetric(float64(after.Nanoseconds())/float64(b.N), "after-ns/op")
	})
}

func TestUnroutedNamesShareOneSeries(t *testing.T) {
	f := newFixture(t)
	chain := request.NewChain(func(context.Context, *request.Call) (mcp.Result, error) {
		return nil, request.Errorf(request.OutcomeNotFound, request.CodeInvalidParams, "unknown tool")
	}, []request.Observer{f.tel.Observer()}, nil)
	for i := range 50 {
		name := "random_" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		chain.Run(context.Background(), &request.Call{Method: "tools/call", Capability: name, Params: &mcp.CallToolParamsRaw{Name: name}})
	}
	var rm metricdata.ResourceMetrics
	f.reader.Collect(context.Background(), &rm)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "argus.requests" {
				continue
			}
			sum := m.Data.(metricdata.Sum[int64])
			if len(sum.DataPoints) != 1 || sum.DataPoints[0].Value != 50 {
				t.Fatalf("unrouted names made %d series", len(sum.DataPoints))
			}
			if v, _ := sum.DataPoints[0].Attributes.Value("tool_name"); v.AsString() != "_unrouted" {
				t.Errorf("tool_name = %q", v.AsString())
			}
			return
		}
	}
	t.Fatal("argus.requests not recorded")
}

// TestParamsLessRequest: a request sent without params (the official Go
// client's ListTools(ctx, nil)) reaches the observer as a typed nil
// pointer; it is traced like any other, not a panic.
func TestParamsLessRequest(t *testing.T) {
	f := newFixture(t)
	chain := request.NewChain(func(context.Context, *request.Call) (mcp.Result, error) {
		return &mcp.ListToolsResult{}, nil
	}, []request.Observer{f.tel.Observer()}, nil)
	for _, p := range []mcp.Params{(*mcp.ListToolsParams)(nil), nil} {
		c := &request.Call{Method: "tools/list", Params: p, Facts: request.Facts{Transport: request.TransportHTTP}}
		chain.Run(context.Background(), c)
		if c.Outcome != request.OutcomeSuccess {
			t.Errorf("params %#v: outcome %v (%v)", p, c.Outcome, c.Err)
		}
	}
	if err := f.tel.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(f.spans.GetSpans()); n != 2 {
		t.Errorf("%d spans, want 2", n)
	}
}

// TestRoundEvents: the SERVER span of each round of a multi-round-trip
// call names what became of it: input_required, complete, or unclaimed
// for the round a client never came back for (observed with Chain.Fail).
func TestRoundEvents(t *testing.T) {
	f := newFixture(t)
	chain := request.NewChain(func(context.Context, *request.Call) (mcp.Result, error) {
		return &mcp.CallToolResult{}, nil
	}, []request.Observer{f.tel.Observer()}, nil)
	for _, c := range []*request.Call{
		{InputRequired: true, Round: 1},
		{Round: 2, Rounds: 1},
		{Unclaimed: true, Round: 2, Rounds: 1},
	} {
		call := toolCall(nil, nil)
		call.InputRequired, call.Unclaimed, call.Round, call.Rounds, call.LogicalID = c.InputRequired, c.Unclaimed, c.Round, c.Rounds, "req-0"
		if c.Unclaimed {
			chain.Fail(context.Background(), call, &request.Error{Outcome: request.OutcomeCancelled, Wire: &jsonrpc.Error{Code: request.CodeRequestCancelled, Message: "gone"}})
		} else {
			chain.Run(context.Background(), call)
		}
	}
	if err := f.tel.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range f.spans.GetSpans().Snapshots() {
		if s.SpanKind() != trace.SpanKindServer {
			continue
		}
		for _, e := range s.Events() {
			if e.Name != "exception" { // the unclaimed round's error
				got = append(got, e.Name)
			}
		}
		if a := attrs(s); a["mcp.argus.logical_request_id"].AsString() != "req-0" {
			t.Errorf("span %v without the logical request id", a)
		}
	}
	if want := []string{"input_required", "complete", "unclaimed"}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("round events %v, want %v", got, want)
	}
}

// TestSpanAttributesOutliveTheirBuffer: the slices span attributes are
// built in are used again by the next call (attrBufs); the spans already
// ended keep their own, complete and unchanged, attributes.
func TestSpanAttributesOutliveTheirBuffer(t *testing.T) {
	f := newFixture(t)
	for i, user := range []string{"alice", "bob", "carol"} {
		c := toolCall(nil, nil)
		c.UserID, c.ID = user, fmt.Sprint("req-", i)
		f.run(t, c, nil, &mcp.CallToolResult{}, nil)
	}
	spans := f.spans.GetSpans().Snapshots()
	if len(spans) != 6 {
		t.Fatalf("%d spans, want 6", len(spans))
	}
	for i, user := range []string{"alice", "bob", "carol"} {
		client, server := attrs(spans[2*i]), attrs(spans[2*i+1])
		if server["enduser.id"].AsString() != user || server["mcp.request_id"].AsString() != fmt.Sprint("req-", i) ||
			server["mcp.backend"].AsString() != "demo" || len(spans[2*i+1].Attributes()) != 12 {
			t.Errorf("call %d: server span attributes %v", i, spans[2*i+1].Attributes())
		}
		if client["mcp.backend"].AsString() != "demo" || client["server.port"].AsInt64() != 3001 || len(spans[2*i].Attributes()) != 6 {
			t.Errorf("call %d: client span attributes %v", i, spans[2*i].Attributes())
		}
	}
}

// TestServerAddress: an HTTP backend's server.address and server.port,
// with the scheme's port when the URL names none.
func TestServerAddress(t *testing.T) {
	for _, tc := range []struct {
		url, host string
		port      int64
	}{
		{"http://127.0.0.1:3001/mcp", "127.0.0.1", 3001},
		{"https://mcp.example.com/mcp", "mcp.example.com", 443},
		{"http://backend/mcp", "backend", 80},
		{"http://[::1]:8080/", "::1", 8080},
	} {
		tel := &Telemetry{}
		for range 2 { // parsed, then from the cache
			got := tel.serverAddress(tc.url)
			if len(got) != 2 || got[0].Value.AsString() != tc.host || got[1].Value.AsInt64() != tc.port {
				t.Errorf("%s: %v, want %s and %d", tc.url, got, tc.host, tc.port)
			}
		}
	}
	if got := (&Telemetry{}).serverAddress("http://%zz"); len(got) != 0 {
		t.Errorf("an unparsable URL: %v, want no attributes", got)
	}
}

// TestSpansEndWhenTheCallDid: on the lean path the spans are ended and the
// metrics recorded only once the client has its answer (request.AfterAnswer
// runs); nothing is exported before, and the spans still end when the
// backend request and the call ended, not when that work ran. An error
// of the backend request still reaches its span.
func TestSpansEndWhenTheCallDid(t *testing.T) {
	f := newFixture(t)
	const late = 150 * time.Millisecond
	var backendEnd, handlerEnd time.Time
	chain := request.NewChain(func(ctx context.Context, c *request.Call) (mcp.Result, error) {
		c.Backend, c.OriginalName = "demo", "search"
		_, done := c.BackendHook(ctx, c, request.Backend{Name: "demo", Type: "stdio", Command: "demo"}, &mcp.CallToolParams{Name: "search"})
		time.Sleep(20 * time.Millisecond) // the backend's work
		backendEnd = time.Now()
		done(nil, &jsonrpc.Error{Code: -32001, Message: "busy"})
		time.Sleep(20 * time.Millisecond) // the router's own
		handlerEnd = time.Now()
		return nil, &jsonrpc.Error{Code: -32001, Message: "busy"}
	}, []request.Observer{f.tel.Observer()}, nil)

	a := &request.AfterAnswer{}
	c := toolCall(nil, nil)
	chain.Run(request.WithAfterAnswer(context.Background(), a), c)
	if err := f.tel.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(f.spans.GetSpans()); n != 0 || !a.Pending() {
		t.Fatalf("before the answer: %d spans exported, pending %v", n, a.Pending())
	}
	time.Sleep(late) // the answer being written
	ranAt := time.Now()
	a.Run()
	if err := f.tel.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := f.spans.GetSpans().Snapshots()
	if len(spans) != 2 {
		t.Fatalf("%d spans after the answer", len(spans))
	}
	client, server := spans[0], spans[1]
	near := func(name string, got, want time.Time) {
		t.Helper()
		if d := got.Sub(want); d < -5*time.Millisecond || d > 5*time.Millisecond {
			t.Errorf("%s span ended at %v, %v from when it should have (%v); the late work ran at %v", name, got.Format("15:04:05.000"), d, want.Format("15:04:05.000"), ranAt.Format("15:04:05.000"))
		}
	}
	near("client", client.EndTime(), backendEnd)
	near("server", server.EndTime(), handlerEnd)
	if got := server.EndTime().Sub(server.StartTime()); got > c.Duration || got < c.Duration-5*time.Millisecond {
		t.Errorf("server span lasted %v, the call %v", got, c.Duration)
	}
	if attrs(client)["error.type"].AsString() != "-32001" || client.Status().Code != codes.Error {
		t.Errorf("client span: error.type %q status %v", attrs(client)["error.type"].AsString(), client.Status())
	}

	// The client operation's duration is the backend request's, not until the late work.
	var rm metricdata.ResourceMetrics
	if err := f.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "mcp.client.operation.duration" {
				continue
			}
			h := m.Data.(metricdata.Histogram[float64])
			if len(h.DataPoints) != 1 || h.DataPoints[0].Sum > (late/2).Seconds() {
				t.Errorf("client duration: %+v, want one call of about 20ms", h.DataPoints)
			}
			return
		}
	}
	t.Error("no mcp.client.operation.duration recorded")
}

// TestSpanEventsWithinTheSpan: recorded after the answer, the errors
// (exception events) of both spans still fall within them.
func TestSpanEventsWithinTheSpan(t *testing.T) {
	f := newFixture(t)
	chain := request.NewChain(func(ctx context.Context, c *request.Call) (mcp.Result, error) {
		c.Backend, c.OriginalName = "demo", "search"
		_, done := c.BackendHook(ctx, c, request.Backend{Name: "demo", Type: "stdio", Command: "demo"}, &mcp.CallToolParams{Name: "search"})
		done(nil, &jsonrpc.Error{Code: -32001, Message: "busy"})
		return nil, &request.Error{Outcome: request.OutcomeTransport, Err: context.DeadlineExceeded, Wire: &jsonrpc.Error{Code: -32001, Message: "busy"}}
	}, []request.Observer{f.tel.Observer()}, nil)
	a := &request.AfterAnswer{}
	c := toolCall(nil, nil)
	chain.Run(request.WithAfterAnswer(context.Background(), a), c)
	time.Sleep(50 * time.Millisecond) // the answer being written
	a.Run()
	if err := f.tel.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := f.spans.GetSpans().Snapshots()
	events := 0
	for _, s := range spans {
		events += len(s.Events())
		for _, ev := range s.Events() {
			t.Logf("%s span %v..%v, event %q at %v", s.SpanKind(), s.StartTime().Format("15:04:05.000"), s.EndTime().Format("15:04:05.000"), ev.Name, ev.Time.Format("15:04:05.000"))
			if ev.Time.After(s.EndTime()) {
				t.Errorf("%s span: event %q at %v, %v after the span's end", s.SpanKind(), ev.Name, ev.Time.Format("15:04:05.000"), ev.Time.Sub(s.EndTime()))
			}
		}
	}
	if len(spans) != 2 || events != 2 {
		t.Errorf("%d spans with %d events, want 2 spans with an exception event each", len(spans), events)
	}
}

// A client's text is bounded in every span it reaches (name, attributes,
// status, the exception event, on both spans), and a method MCP does not
// define is one metric label however many a client makes up.
func TestClientTextIsBounded(t *testing.T) {
	f := newFixture(t)
	huge := strings.Repeat("é", 1<<20) // 2 MiB, two bytes a rune
	c := toolCall(nil, nil)
	c.Capability, c.JSONRPCID = huge, huge
	f.run(t, c, nil, nil, errors.New("backend said: "+huge))
	for i := range 3 {
		f.run(t, &request.Call{ID: "r", Method: fmt.Sprintf("made/up/%d", i)}, nil, nil, nil)
	}
	for _, s := range f.spans.GetSpans().Snapshots() {
		if len(s.Name()) > maxNameLength || !utf8.ValidString(s.Name()) {
			t.Errorf("span name of %d bytes (valid UTF-8: %v)", len(s.Name()), utf8.ValidString(s.Name()))
		}
		if len(s.Status().Description) > MaxAttributeLength {
			t.Errorf("%s: status of %d bytes", s.Name(), len(s.Status().Description))
		}
		check := func(kvs []attribute.KeyValue) {
			for _, kv := range kvs {
				if v := kv.Value.Emit(); utf8.RuneCountInString(v) > MaxAttributeLength || !utf8.ValidString(v) {
					t.Errorf("%s: %s of %d characters", s.Name(), kv.Key, utf8.RuneCountInString(v))
				}
			}
		}
		check(s.Attributes())
		for _, e := range s.Events() {
			check(e.Attributes)
		}
	}
	var rm metricdata.ResourceMetrics
	if err := f.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	methods := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "argus.requests" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				v, _ := dp.Attributes.Value("tool_name")
				methods[v.AsString()] = true
			}
		}
	}
	if !methods[otherMethod] || len(methods) != 2 {
		t.Errorf("argus.requests tool_name labels: %v, want the unrouted call's and %q", methods, otherMethod)
	}
}

// TestBackendGetsOnlyTheSpansContext: the backend's _meta carries the
// CLIENT span's trace context in place of the client's. What the span
// does not carry (a tracestate beside an invalid traceparent, baggage of
// the wrong type, keys in another case) is not left in it; a valid
// client's tracestate and baggage go on with the span's context.
func TestBackendGetsOnlyTheSpansContext(t *testing.T) {
	validParent := "00-" + clientTrace + "-" + clientParent + "-01"
	for _, tt := range []struct {
		name               string
		meta               map[string]any
		tracestate, bagage any
	}{
		{"invalid traceparent", map[string]any{"traceparent": "garbage", "tracestate": "v=1", "baggage": 7, "Traceparent": validParent, "BAGGAGE": "u=1", "progressToken": 3}, nil, nil},
		{"valid", map[string]any{"traceparent": validParent, "tracestate": "v=1", "baggage": "user=alice", "progressToken": 3}, "v=1", "user=alice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			var backendMeta map[string]any
			f.run(t, toolCall(tt.meta, nil), &backendMeta, &mcp.CallToolResult{}, nil)
			spans := f.spans.GetSpans().Snapshots()
			if len(spans) != 2 {
				t.Fatalf("%d spans", len(spans))
			}
			client := spans[0]
			want := "00-" + client.SpanContext().TraceID().String() + "-" + client.SpanContext().SpanID().String() + "-01"
			if backendMeta["traceparent"] != want {
				t.Errorf("traceparent %v, want the CLIENT span's %s", backendMeta["traceparent"], want)
			}
			if backendMeta["tracestate"] != tt.tracestate || backendMeta["baggage"] != tt.bagage {
				t.Errorf("tracestate %v baggage %v, want %v and %v", backendMeta["tracestate"], backendMeta["baggage"], tt.tracestate, tt.bagage)
			}
			for _, k := range []string{"Traceparent", "BAGGAGE"} {
				if _, ok := backendMeta[k]; ok {
					t.Errorf("%s reached the backend", k)
				}
			}
			if backendMeta["progressToken"] != 3 || len(backendMeta) != 2+btoi(tt.tracestate != nil)+btoi(tt.bagage != nil) {
				t.Errorf("backend _meta %v", backendMeta)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
