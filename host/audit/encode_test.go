package audit

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
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
