package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/trace"

	"github.com/argusmcp/argus/host/request"
)

// TestAppendEventMatchesEncodingJSON: the reflection-free encoder writes
// exactly the bytes encoding/json.Marshal writes, for edge-case and random
// events (escaping, invalid UTF-8, float formats, metadata of every kind).
func TestAppendEventMatchesEncodingJSON(t *testing.T) {
	strs := []string{"", "plain", `quote " and \ backslash`, "<script>&amp;</script>", "tab\tnl\ncr\rbs\bff\f",
		"\x00\x01\x1f\x7f", "line\u2028sep\u2029", "bad \xff utf8 \xc3", "émoji 🦀 ü", "\u00e9\u0301", `{"json":[1,2]}`}
	floats := []float64{0, math.Copysign(0, -1), 1, -1, 0.001, 1.5, 123.456, 1e-6, 9.99e-7, 1e-7, 1e20, 1e21, 1.2345e22, -3e-9, math.MaxFloat64, math.SmallestNonzeroFloat64}
	metas := []map[string]any{nil, {}, {"request_id": "r", "transport": "http", "jsonrpc_id": float64(7), "rounds": 2,
		"jsonrpc_error_code": int64(-32603), "flag": true, "nothing": nil, "nested": map[string]any{"b": 1, "a": []any{"x", 2.5}}}}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	ptr := func() *string {
		if rng.IntN(3) == 0 {
			return nil
		}
		s := pick(strs)
		return &s
	}
	events := []Event{}
	for _, s := range strs {
		events = append(events, Event{Timestamp: s, EventType: s, EventID: s, Source: Source{SessionID: &s}, Target: Target{Method: s, CapabilityName: s}, Outcome: Outcome{Status: s}, Metadata: map[string]any{s: s}})
	}
	for _, f := range floats {
		events = append(events, Event{Outcome: Outcome{LatencyMS: f}, Metadata: map[string]any{"f": f}})
	}
	for range 2000 {
		md := map[string]any{}
		for k, v := range metas[rng.IntN(len(metas))] {
			md[k] = v
		}
		md[pick(strs)] = pick(strs)
		md["x"+pick(strs)] = floats[rng.IntN(len(floats))]
		if rng.IntN(5) == 0 {
			md = nil
		}
		events = append(events, Event{
			Timestamp: pick(strs), EventType: pick(strs), EventID: pick(strs),
			Source:   Source{SessionID: ptr(), ClientIP: ptr(), UserID: ptr()},
			Target:   Target{Backend: ptr(), Method: pick(strs), CapabilityName: pick(strs), OriginalName: ptr()},
			Outcome:  Outcome{Status: pick(strs), LatencyMS: floats[rng.IntN(len(floats))] * rng.Float64(), Error: ptr(), ErrorType: ptr()},
			Metadata: md,
		})
	}
	for i, e := range events {
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := appendEvent(nil, &e)
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("event %d: appendEvent = %s (ok %v)\nencoding/json  = %s", i, got, ok, want)
		}
	}
}

// TestMarshalUnencodableMetadata: a metadata value encoding/json refuses
// keeps the record, with the error in place of the metadata.
func TestMarshalUnencodableMetadata(t *testing.T) {
	e := Event{EventID: "x", Metadata: map[string]any{"bad": math.NaN()}}
	var got map[string]any
	if err := json.Unmarshal(e.Marshal(), &got); err != nil {
		t.Fatal(err)
	}
	md, _ := got["metadata"].(map[string]any)
	if got["event_id"] != "x" || md["metadata_error"] != "json: unsupported value: NaN" {
		t.Fatalf("Marshal = %v", got)
	}
}

// BenchmarkEventMarshal: one operation event, as the pipeline encodes it.
func BenchmarkEventMarshal(b *testing.B) {
	s, ip := "3f0c8f0e-session", "127.0.0.1"
	e := Event{Timestamp: "2026-11-30T06:00:00.000000+00:00", EventType: TypeOperation, EventID: "6f1c1d7e-8a9b-4c3d-9e2f-0a1b2c3d4e5f",
		Source: Source{SessionID: &s, ClientIP: &ip}, Target: Target{Backend: &s, Method: "call_tool", CapabilityName: "echo"},
		Outcome:  Outcome{Status: "success", LatencyMS: 0.734},
		Metadata: map[string]any{"request_id": "r-1", "transport": "http", "jsonrpc_id": float64(12), "protocol_version": "2025-11-25"}}
	b.ReportAllocs()
	for b.Loop() {
		e.Marshal()
	}
}

// operationEventOld is what End encoded before appendOperation: the
// Event, marshalled.
func operationEventOld(c *request.Call, id string, sc trace.SpanContext, code int64) []byte {
	return operationRecord(c, id, sc, code).Marshal()
}

// TestAppendOperationMatchesEvent: the fused encoder of the mcp_operation
// event writes exactly the bytes of the Event it replaces, for edge-case
// and random calls (every outcome, errors of each kind, ids of every JSON
// type, identity, policy and rounds metadata, hostile strings).
func TestAppendOperationMatchesEvent(t *testing.T) {
	strs := []string{"", "plain", `quote " and \ backslash`, "<script>&amp;</script>", "tab\tnl\ncr", "\x00\x1f\x7f",
		"line\u2028sep\u2029", "bad \xff utf8 \xc3", "émoji 🦀",
		// Longer than the bounds (maxTextBytes, maxNameBytes,
		// maxErrorBytes), with characters of several bytes across them.
		strings.Repeat("é", 129), strings.Repeat("ab🦀", 300), strings.Repeat("<&>\"", 1100)}
	ids := []string{"", "7", "0", "-12", "123456789012345678", "1e2", "1.5", `"abc"`, `"a\u00e9\n"`, `"<&>"`, "null", "true", "{}", `[1,"x"]`, "not json", `"unterminated`,
		`"` + strings.Repeat("x", 300) + `"`, `"` + strings.Repeat("\u00e9", 200) + `"`}
	methods := []string{"tools/call", "resources/read", "prompts/get", "ping", "tools/list", "", "weird/method"}
	durations := []time.Duration{0, time.Nanosecond, 999 * time.Nanosecond, 1500 * time.Microsecond, 42*time.Second + 1, -time.Millisecond, 1<<63 - 1}
	starts := []time.Time{start, {}, time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600+1800))}
	errs := []error{nil, errors.New("plain failure"),
		&request.Error{Outcome: request.OutcomeRPCError, Wire: &jsonrpc.Error{Code: -32001, Message: "boom <b>"}},
		&request.Error{Outcome: request.OutcomeTimeout, Wire: &jsonrpc.Error{Code: -32002, Message: "slow \x00"}, Err: errors.New("cause")},
		fmt.Errorf("wrapped: %w", &jsonrpc.Error{Code: -32603, Message: "internal"}),
		&request.Error{Outcome: request.OutcomeNotFound, Wire: &jsonrpc.Error{Code: -32602, Message: "unknown tool " + strings.Repeat("é", 3000)}}}
	results := []mcp.Result{nil, &mcp.CallToolResult{IsError: true}, &mcp.CallToolResult{IsError: true, Content: []mcp.Content{
		&mcp.TextContent{Text: "first"}, &mcp.ImageContent{MIMEType: "image/png"}, &mcp.TextContent{Text: "second \xff"}}}, &mcp.ListToolsResult{}}
	valid := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1, 2, 3, 0xfe}, SpanID: trace.SpanID{0xab, 9}, TraceFlags: trace.FlagsSampled})
	rng := rand.New(rand.NewPCG(3, 4))
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	for i := range 5000 {
		c := &request.Call{
			ID: pick(strs), SessionID: pick(strs), Method: pick(methods), Capability: pick(strs), OriginalName: pick(strs),
			Backend: pick(strs), Policy: pick(strs), ProtocolVersion: pick(strs), LogicalID: pick(strs),
			Facts: request.Facts{JSONRPCID: pick(ids), ClientIP: pick(strs), UserID: pick(strs), Transport: pick(strs), Issuer: pick(strs)},
			Start: starts[rng.IntN(len(starts))], Duration: durations[rng.IntN(len(durations))],
			Outcome: request.Outcome(rng.IntN(int(request.OutcomeRateLimited) + 1)), Result: results[rng.IntN(len(results))], Err: errs[rng.IntN(len(errs))],
		}
		if rng.IntN(3) == 0 {
			c.Rounds = rng.IntN(4)
		}
		for range rng.IntN(3) {
			c.Groups = append(c.Groups, pick(strs))
		}
		if rng.IntN(20) == 0 {
			for range maxGroups {
				c.Groups = append(c.Groups, "g")
			}
		}
		if rng.IntN(4) == 0 {
			c.Groups = []string{} // empty, not absent: no "groups" either way
		}
		sc := trace.SpanContext{}
		if rng.IntN(2) == 0 {
			sc = valid
		}
		code := []int64{0, -32603, 7, -1 << 63}[rng.IntN(4)]
		id := pick([]string{"6f1c1d7e-8a9b-4c3d-9e2f-0a1b2c3d4e5f", "<id>", "bad \xff"})
		want := operationEventOld(c, id, sc, code)
		got, _ := operationEvent(c, id, sc, code)
		if !bytes.Equal(got, want) {
			t.Fatalf("call %d (%+v):\nappendOperation = %s\nEvent           = %s", i, c, got, want)
		}
	}
}

// TestOperationEventNewID: without an mcp_request record's id the event
// gets a fresh UUIDv4 of its own.
func TestOperationEventNewID(t *testing.T) {
	c := call(request.OutcomeSuccess, &mcp.CallToolResult{}, nil)
	seen := map[string]bool{}
	for range 3 {
		var e Event
		b, id := operationEvent(c, "", trace.SpanContext{}, 0)
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatal(err)
		}
		if !uuidV4.MatchString(e.EventID) || seen[e.EventID] || id != e.EventID {
			t.Fatalf("event_id %q (seen before: %v), returned as %q", e.EventID, seen[e.EventID], id)
		}
		seen[e.EventID] = true
	}
}

// BenchmarkOperationEvent: one tools/call's mcp_operation event as End
// encodes it (fused), against building and marshalling the Event.
func BenchmarkOperationEvent(b *testing.B) {
	c := call(request.OutcomeSuccess, &mcp.CallToolResult{}, nil)
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled})
	id := "6f1c1d7e-8a9b-4c3d-9e2f-0a1b2c3d4e5f"
	b.Run("fused", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			operationEvent(c, id, sc, 0)
		}
	})
	b.Run("event", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			operationEventOld(c, id, sc, 0)
		}
	})
}

// TestAppendTimestamp: the timestamp written without AppendFormat is the
// layout's, for times across the range a clock gives and beyond (years
// outside 0-9999 take AppendFormat), in any zone.
func TestAppendTimestamp(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	zones := []*time.Location{time.UTC, time.FixedZone("east", 13*3600+45*60), time.FixedZone("west", -11*3600)}
	times := []time.Time{{}, time.Unix(0, 0), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 6, 1, 0, 0, 0, 0, time.UTC), start}
	for range 10000 {
		times = append(times, time.Unix(rng.Int64N(400<<30)-(100<<30), rng.Int64N(1e9)).In(zones[rng.IntN(len(zones))]))
	}
	for _, tm := range times {
		if got, want := string(appendTimestamp([]byte("x"), tm)), "x"+tm.UTC().Format(timestampLayout); got != want {
			t.Fatalf("appendTimestamp(%v) = %s, want %s", tm, got, want)
		}
	}
}

// BenchmarkTimestamp: an event's timestamp appended, against
// time.Time.AppendFormat of the same layout.
func BenchmarkTimestamp(b *testing.B) {
	buf := make([]byte, 0, 64)
	b.Run("append", func(b *testing.B) {
		for b.Loop() {
			buf = appendTimestamp(buf[:0], start)
		}
	})
	b.Run("format", func(b *testing.B) {
		for b.Loop() {
			buf = start.UTC().AppendFormat(buf[:0], timestampLayout)
		}
	})
}

// FuzzAppendOperation: for any call the fuzzer makes up (any strings,
// ids, outcomes, durations and times), the fused encoder writes the
// bytes of the Event it replaced, and valid JSON.
func FuzzAppendOperation(f *testing.F) {
	f.Add("tools/call", "demo_search", "7", "alice", "", int64(42500000), int64(1771850096789000000), 0, int64(0), 0, true)
	f.Add("resources/read", "demo://x\u2028<&>", `"id \xff"`, "", "ops", int64(-1), int64(-1<<63), 2, int64(-32603), 3, false)
	f.Add("ping", "", "1e400", "\x00", "g\"1", int64(1<<62), int64(1<<62), 11, int64(7), 1, true)
	f.Fuzz(func(t *testing.T, method, capability, rpcID, user, group string, duration, startNanos int64, outcome int, code int64, rounds int, traced bool) {
		c := &request.Call{
			ID: capability + "-id", SessionID: user, Method: method, Capability: capability, OriginalName: group,
			Backend: capability, Policy: group, ProtocolVersion: method, LogicalID: rpcID,
			Facts: request.Facts{JSONRPCID: rpcID, ClientIP: group, UserID: user, Transport: method, Issuer: user},
			Start: time.Unix(0, startNanos), Duration: time.Duration(duration),
			Outcome: request.Outcome(uint(outcome) % uint(request.OutcomeRateLimited+1)), Rounds: rounds % 5,
		}
		if group != "" {
			c.Groups = []string{group, user}
		}
		switch c.Outcome {
		case request.OutcomeToolError:
			c.Result = &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: user}}}
		case request.OutcomeRPCError:
			c.Err = &request.Error{Outcome: c.Outcome, Wire: &jsonrpc.Error{Code: code, Message: capability}}
		case request.OutcomeSuccess:
		default:
			c.Err = errors.New(group)
		}
		sc := trace.SpanContext{}
		if traced {
			sc = trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{byte(code), 1}, SpanID: trace.SpanID{2}})
		}
		got, _ := operationEvent(c, user+"-event", sc, code)
		want := operationEventOld(c, user+"-event", sc, code)
		if !bytes.Equal(got, want) {
			t.Fatalf("appendOperation = %s\nEvent           = %s", got, want)
		}
		if !json.Valid(got) {
			t.Fatalf("not JSON: %s", got)
		}
	})
}

// TestRecordsAreBounded: whatever size of name, id, identity or error a
// client brings, a record keeps a bounded prefix of each, cut at a
// character, and lists what it cut in metadata.truncated; so do the
// mcp_request record and the Event. A record of ordinary values lists
// nothing.
func TestRecordsAreBounded(t *testing.T) {
	huge := strings.Repeat("é", 1<<20) // 2 MiB
	c := &request.Call{
		ID: "r1", SessionID: huge, Method: "tools/call", Capability: huge, OriginalName: huge,
		Facts: request.Facts{JSONRPCID: `"` + huge + `"`, ClientIP: huge, UserID: huge, Transport: "streamable-http"},
		Start: start, Duration: time.Millisecond, Outcome: request.OutcomeNotFound,
		Err: &request.Error{Outcome: request.OutcomeNotFound, Wire: &jsonrpc.Error{Code: -32602, Message: "unknown tool " + huge}},
	}
	for range 3 * maxGroups {
		c.Groups = append(c.Groups, huge)
	}
	want := []any{"source.session_id", "source.client_ip", "source.user_id", "target.capability_name",
		"target.original_name", "outcome.error", "metadata.groups", "metadata.jsonrpc_id"}
	fast, _ := operationEvent(c, "e1", trace.SpanContext{}, -32602)
	pending := RequestRecord(c, "e1").Marshal()
	for name, b := range map[string][]byte{"mcp_operation": fast, "mcp_operation (Event)": operationEventOld(c, "e1", trace.SpanContext{}, -32602), "mcp_request": pending} {
		if len(b) > 32<<10 {
			t.Errorf("%s: %d bytes from a call of 2 MiB names", name, len(b))
		}
		var e map[string]any
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		md := e["metadata"].(map[string]any)
		got, _ := md["truncated"].([]any)
		if name == "mcp_request" {
			// No original name and no outcome before the call runs.
			if !reflect.DeepEqual(got, []any{want[0], want[1], want[2], want[3], want[6], want[7]}) {
				t.Errorf("%s: truncated %v", name, got)
			}
		} else if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: truncated %v, want %v", name, got, want)
		}
		capName := e["target"].(map[string]any)["capability_name"].(string)
		if !strings.HasSuffix(capName, "…") || !strings.HasPrefix(huge, strings.TrimSuffix(capName, "…")) || len(capName) > maxNameBytes {
			t.Errorf("%s: capability_name %d bytes, not a prefix of the name ending in …", name, len(capName))
		}
		if groups := md["groups"].([]any); len(groups) != maxGroups {
			t.Errorf("%s: %d groups kept, want %d", name, len(groups), maxGroups)
		}
	}
	ordinary, _ := operationEvent(call(request.OutcomeSuccess, &mcp.CallToolResult{}, nil), "e2", trace.SpanContext{}, 0)
	if bytes.Contains(ordinary, []byte("truncated")) {
		t.Errorf("an ordinary call's record lists truncated fields: %s", ordinary)
	}
}
