package otelcoltest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/argusmcp/argus/internal/testbin"
)

// requireE2E skips tests that build and run the real collector unless
// ARGUS_E2E_OTEL=1: the first build takes minutes and must not slow make test.
func requireE2E(t *testing.T) {
	t.Helper()
	if os.Getenv("ARGUS_E2E_OTEL") != "1" {
		t.Skip("builds and runs a real OpenTelemetry Collector (minutes on the first build); set ARGUS_E2E_OTEL=1 to run it — make e2e-otel does")
	}
}

const (
	traceA     = "4bf92f3577b34da6a3ce929d0e0e4736"
	traceB     = "0af7651916cd43dd8448eb211c80319c"
	serverSpan = "00f067aa0ba902b7"
	clientSpan = "00f067aa0ba902b8"
	otherSpan  = "b7ad6b7169203331"
)

// tracesPayload is an OTLP/HTTP JSON ExportTraceServiceRequest: in trace A a
// SERVER span with a CLIENT child, in trace B an INTERNAL root span.
var tracesPayload = `{"resourceSpans":[{
  "resource":{"attributes":[
    {"key":"service.name","value":{"stringValue":"otelcoltest"}},
    {"key":"service.version","value":{"stringValue":"1.2.3"}}]},
  "scopeSpans":[{
    "scope":{"name":"argus/otelcoltest","version":"0.1"},
    "spans":[
      {"traceId":"` + traceA + `","spanId":"` + serverSpan + `","name":"tools/call get-weather","kind":2,
       "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000500000000",
       "attributes":[
         {"key":"mcp.method.name","value":{"stringValue":"tools/call"}},
         {"key":"gen_ai.tool.name","value":{"stringValue":"get-weather"}},
         {"key":"server.port","value":{"intValue":"8080"}},
         {"key":"test.cached","value":{"boolValue":true}},
         {"key":"test.ratio","value":{"doubleValue":0.25}},
         {"key":"test.tags","value":{"arrayValue":{"values":[{"stringValue":"a"},{"intValue":"2"}]}}}],
       "events":[{"name":"exception","timeUnixNano":"1700000000400000000",
         "attributes":[{"key":"exception.message","value":{"stringValue":"no weather"}}]}],
       "status":{"code":2,"message":"tool failed"}},
      {"traceId":"` + traceA + `","spanId":"` + clientSpan + `","parentSpanId":"` + serverSpan + `",
       "name":"tools/call get-weather","kind":3,
       "startTimeUnixNano":"1700000000100000000","endTimeUnixNano":"1700000000400000000",
       "attributes":[{"key":"network.transport","value":{"stringValue":"pipe"}}],
       "status":{"code":1}},
      {"traceId":"` + traceB + `","spanId":"` + otherSpan + `","name":"internal work","kind":1,
       "startTimeUnixNano":"1700000001000000000","endTimeUnixNano":"1700000001000001000"}
    ]}]}]}`

// metricsPayload is an OTLP/HTTP JSON ExportMetricsServiceRequest with a
// monotonic cumulative sum, a gauge and a histogram.
var metricsPayload = `{"resourceMetrics":[{
  "resource":{"attributes":[{"key":"service.name","value":{"stringValue":"otelcoltest"}}]},
  "scopeMetrics":[{
    "scope":{"name":"argus/otelcoltest"},
    "metrics":[
      {"name":"test.requests","unit":"{request}","description":"requests handled",
       "sum":{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[
         {"attributes":[{"key":"mcp.method.name","value":{"stringValue":"tools/call"}}],
          "startTimeUnixNano":"1700000000000000000","timeUnixNano":"1700000010000000000","asInt":"5"}]}},
      {"name":"test.temperature","unit":"Cel",
       "gauge":{"dataPoints":[{"timeUnixNano":"1700000010000000000","asDouble":21.5}]}},
      {"name":"mcp.server.operation.duration","unit":"s",
       "histogram":{"aggregationTemporality":2,"dataPoints":[
         {"attributes":[{"key":"mcp.method.name","value":{"stringValue":"tools/call"}}],
          "startTimeUnixNano":"1700000000000000000","timeUnixNano":"1700000010000000000",
          "count":"3","sum":0.35,"bucketCounts":["1","2","0"],"explicitBounds":[0.1,0.5],
          "min":0.05,"max":0.2}]}}
    ]}]}]}`

// logsPayload is an OTLP/HTTP JSON ExportLogsServiceRequest with two
// records, shaped like the otlp plugin's audit records.
var logsPayload = `{"resourceLogs":[{
  "resource":{"attributes":[{"key":"service.name","value":{"stringValue":"otelcoltest"}}]},
  "scopeLogs":[{
    "scope":{"name":"argus.audit","version":"1.0.0"},
    "logRecords":[
      {"timeUnixNano":"1700000000000000000","observedTimeUnixNano":"1700000000100000000","severityNumber":9,"severityText":"INFO",
       "eventName":"argus.audit.mcp_operation","body":{"stringValue":"{\"event_id\":\"e-1\"}"},
       "traceId":"` + traceA + `","spanId":"` + serverSpan + `",
       "attributes":[{"key":"argus.audit.event_id","value":{"stringValue":"e-1"}},{"key":"argus.audit.seq","value":{"intValue":"1"}}]},
      {"timeUnixNano":"1700000001000000000","severityNumber":13,"body":{"stringValue":"{\"event_id\":\"e-2\"}"},
       "attributes":[{"key":"argus.audit.event_id","value":{"stringValue":"e-2"}},{"key":"argus.audit.seq","value":{"intValue":"2"}}]}
    ]}]}]}`

func checkLogs(t *testing.T, logs []LogRecord) {
	t.Helper()
	if len(logs) != 2 {
		t.Fatalf("got %d log records, want 2: %+v", len(logs), logs)
	}
	l := logs[0]
	if l.Body != `{"event_id":"e-1"}` || l.EventName != "argus.audit.mcp_operation" || l.SeverityNumber != 9 ||
		l.TraceID != traceA || l.SpanID != serverSpan || l.TimeUnixNano != 1700000000000000000 || l.ScopeName != "argus.audit" ||
		l.Attributes["argus.audit.event_id"] != "e-1" || l.Attributes["argus.audit.seq"] != int64(1) || l.Resource["service.name"] != "otelcoltest" {
		t.Errorf("first record: %+v", l)
	}
	if logs[1].Attributes["argus.audit.event_id"] != "e-2" || logs[1].SeverityNumber != 13 {
		t.Errorf("second record: %+v", logs[1])
	}
}

// compact puts a payload on one line, as the file exporter writes it.
func compact(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func checkSpans(t *testing.T, spans []Span) {
	t.Helper()
	if len(spans) != 3 {
		t.Fatalf("got %d spans, want 3: %+v", len(spans), spans)
	}
	byID := map[string]Span{}
	for _, s := range spans {
		byID[s.SpanID] = s
	}
	server, client, other := byID[serverSpan], byID[clientSpan], byID[otherSpan]

	wantResource := map[string]any{"service.name": "otelcoltest", "service.version": "1.2.3"}
	for _, s := range spans {
		if !reflect.DeepEqual(s.Resource, wantResource) {
			t.Errorf("span %s: resource %v, want %v", s.SpanID, s.Resource, wantResource)
		}
		if s.ScopeName != "argus/otelcoltest" {
			t.Errorf("span %s: scope %q", s.SpanID, s.ScopeName)
		}
	}

	if server.TraceID != traceA || server.ParentSpanID != "" || server.Kind != "SERVER" || server.Name != "tools/call get-weather" {
		t.Errorf("server span: %+v", server)
	}
	wantAttrs := map[string]any{
		"mcp.method.name":  "tools/call",
		"gen_ai.tool.name": "get-weather",
		"server.port":      int64(8080),
		"test.cached":      true,
		"test.ratio":       0.25,
		"test.tags":        []any{"a", int64(2)},
	}
	if !reflect.DeepEqual(server.Attributes, wantAttrs) {
		t.Errorf("server attributes:\n got %#v\nwant %#v", server.Attributes, wantAttrs)
	}
	if server.Status != (Status{Code: "ERROR", Message: "tool failed"}) {
		t.Errorf("server status: %+v", server.Status)
	}
	if server.StartTimeUnixNano != 1700000000000000000 || server.EndTimeUnixNano != 1700000000500000000 {
		t.Errorf("server times: %d %d", server.StartTimeUnixNano, server.EndTimeUnixNano)
	}
	if len(server.Events) != 1 || server.Events[0].Name != "exception" ||
		server.Events[0].Attributes["exception.message"] != "no weather" {
		t.Errorf("server events: %+v", server.Events)
	}

	if client.TraceID != traceA || client.ParentSpanID != serverSpan || client.Kind != "CLIENT" {
		t.Errorf("client span: %+v", client)
	}
	if !reflect.DeepEqual(client.Attributes, map[string]any{"network.transport": "pipe"}) {
		t.Errorf("client attributes: %#v", client.Attributes)
	}
	if client.Status.Code != "OK" {
		t.Errorf("client status: %+v", client.Status)
	}

	if other.TraceID != traceB || other.ParentSpanID != "" || other.Kind != "INTERNAL" || other.Name != "internal work" {
		t.Errorf("other span: %+v", other)
	}
	if other.Status.Code != "UNSET" || len(other.Attributes) != 0 {
		t.Errorf("other span status/attributes: %+v", other)
	}
}

func checkMetrics(t *testing.T, metrics []Metric) {
	t.Helper()
	byName := map[string]Metric{}
	for _, m := range metrics {
		byName[m.Name] = m
	}
	if len(byName) != 3 {
		t.Fatalf("got metrics %v, want 3", metrics)
	}
	methodAttr := map[string]any{"mcp.method.name": "tools/call"}

	sum := byName["test.requests"]
	if sum.Kind != "SUM" || sum.Temporality != "CUMULATIVE" || !sum.Monotonic || sum.Unit != "{request}" ||
		sum.Description != "requests handled" || sum.ScopeName != "argus/otelcoltest" ||
		sum.Resource["service.name"] != "otelcoltest" {
		t.Errorf("sum: %+v", sum)
	}
	if len(sum.DataPoints) != 1 || sum.DataPoints[0].Value != 5 ||
		!reflect.DeepEqual(sum.DataPoints[0].Attributes, methodAttr) ||
		sum.DataPoints[0].TimeUnixNano != 1700000010000000000 {
		t.Errorf("sum points: %+v", sum.DataPoints)
	}

	gauge := byName["test.temperature"]
	if gauge.Kind != "GAUGE" || gauge.Temporality != "" || len(gauge.DataPoints) != 1 || gauge.DataPoints[0].Value != 21.5 {
		t.Errorf("gauge: %+v", gauge)
	}

	hist := byName["mcp.server.operation.duration"]
	if hist.Kind != "HISTOGRAM" || hist.Temporality != "CUMULATIVE" || hist.Unit != "s" || len(hist.DataPoints) != 1 {
		t.Fatalf("histogram: %+v", hist)
	}
	p := hist.DataPoints[0]
	if p.Count != 3 || p.Sum != 0.35 ||
		!reflect.DeepEqual(p.BucketCounts, []uint64{1, 2, 0}) ||
		!reflect.DeepEqual(p.ExplicitBounds, []float64{0.1, 0.5}) ||
		!reflect.DeepEqual(p.Attributes, methodAttr) ||
		p.Min == nil || *p.Min != 0.05 || p.Max == nil || *p.Max != 0.2 {
		t.Errorf("histogram point: %+v", p)
	}
}

// The parsers, on the hand-written payloads (no collector needed).
func TestParse(t *testing.T) {
	spans, err := ParseSpans(append(compact(t, tracesPayload), '\n'))
	if err != nil {
		t.Fatal(err)
	}
	checkSpans(t, spans)
	metrics, err := ParseMetrics(compact(t, metricsPayload))
	if err != nil {
		t.Fatal(err)
	}
	checkMetrics(t, metrics)
	logs, err := ParseLogs(compact(t, logsPayload))
	if err != nil {
		t.Fatal(err)
	}
	checkLogs(t, logs)
}

// Enums may come as names, and 64-bit integers as numbers.
func TestParseAlternativeForms(t *testing.T) {
	line := `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"AB","spanId":"CD","kind":"SPAN_KIND_PRODUCER",` +
		`"startTimeUnixNano":1,"attributes":[{"key":"n","value":{"intValue":7}},{"key":"b","value":{"bytesValue":"aGk="}},` +
		`{"key":"kv","value":{"kvlistValue":{"values":[{"key":"x","value":{"stringValue":"y"}}]}}}],` +
		`"status":{"code":"STATUS_CODE_ERROR"}}]}]}]}`
	spans, err := ParseSpans([]byte("\n" + line + "\n\n" + line + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != 2 {
		t.Fatalf("got %d spans, want 2", len(spans))
	}
	s := spans[0]
	want := map[string]any{"n": int64(7), "b": []byte("hi"), "kv": map[string]any{"x": "y"}}
	if s.TraceID != "ab" || s.SpanID != "cd" || s.Kind != "PRODUCER" || s.Status.Code != "ERROR" ||
		s.StartTimeUnixNano != 1 || !reflect.DeepEqual(s.Attributes, want) {
		t.Errorf("span: %+v", s)
	}

	metrics, err := ParseMetrics([]byte(`{"resourceMetrics":[{"scopeMetrics":[{"metrics":[` +
		`{"name":"d","sum":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_DELTA","dataPoints":[{"asDouble":"NaN"},{"asInt":-3}]}}]}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(metrics) != 1 || metrics[0].Temporality != "DELTA" || metrics[0].Monotonic ||
		len(metrics[0].DataPoints) != 2 || metrics[0].DataPoints[0].Value == metrics[0].DataPoints[0].Value ||
		metrics[0].DataPoints[1].Value != -3 {
		t.Errorf("metrics: %+v", metrics)
	}

	if _, err := ParseSpans([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"x"}]}]}]}`)); err == nil {
		t.Error("bad number: no error")
	}
}

// A missing file holds nothing; a last line still being written is ignored.
func TestReadFiles(t *testing.T) {
	dir := t.TempDir()
	if spans, err := ReadSpansFile(filepath.Join(dir, "missing")); err != nil || spans != nil {
		t.Errorf("missing file: %v, %v", spans, err)
	}
	path := filepath.Join(dir, "traces.jsonl")
	data := append(compact(t, tracesPayload), '\n')
	data = append(data, compact(t, tracesPayload)[:40]...)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	spans, err := ReadSpansFile(path)
	if err != nil {
		t.Fatal(err)
	}
	checkSpans(t, spans)
}

func post(t *testing.T, url string, body []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s: %s", url, resp.Status, out)
	}
	t.Logf("POST %s: %s %s", url, resp.Status, out)
}

func listening(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		conn.Close()
	}
	return err == nil
}

// TestCollectorE2E sends hand-written OTLP/HTTP JSON to a real collector
// and reads it back from the file exporter's output.
func TestCollectorE2E(t *testing.T) {
	requireE2E(t)
	col := Start(t, Options{})
	t.Logf("collector: grpc %s, http %s, files in %s", col.GRPCEndpoint(), col.HTTPEndpoint(), filepath.Dir(col.TracesFile()))
	if config, err := os.ReadFile(col.ConfigFile()); err == nil {
		t.Logf("config:\n%s", config)
	}
	if !listening(col.GRPCEndpoint()) {
		t.Fatalf("gRPC receiver %s not listening", col.GRPCEndpoint())
	}

	post(t, col.HTTPEndpoint()+"/v1/traces", []byte(tracesPayload))
	post(t, col.HTTPEndpoint()+"/v1/metrics", []byte(metricsPayload))
	post(t, col.HTTPEndpoint()+"/v1/logs", []byte(logsPayload))

	checkSpans(t, col.WaitSpans(t, 3, 10*time.Second))
	col.WaitMetric(t, "mcp.server.operation.duration", 10*time.Second)
	metrics, err := col.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	checkMetrics(t, metrics)
	deadline := time.Now().Add(10 * time.Second)
	logs, err := col.Logs()
	for err == nil && len(logs) < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		logs, err = col.Logs()
	}
	if err != nil {
		t.Fatal(err)
	}
	checkLogs(t, logs)

	raw, err := os.ReadFile(col.TracesFile())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("traces file (%d bytes, %d lines); first 300 bytes: %.300s", len(raw), bytes.Count(raw, []byte("\n")), raw)

	col.Stop()
	if col.Running() {
		t.Error("collector still running after Stop")
	}
	if listening(col.GRPCEndpoint()) {
		t.Errorf("%s still accepting connections after Stop", col.GRPCEndpoint())
	}
	spans, err := col.Spans()
	if err != nil || len(spans) != 3 {
		t.Errorf("after Stop: %d spans, %v", len(spans), err)
	}
}

// TestCollectorPresetPortE2E covers "collector down at start, up later":
// the port is chosen first, nothing listens there, then the collector
// starts on it.
func TestCollectorPresetPortE2E(t *testing.T) {
	requireE2E(t)
	port := testbin.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if listening(addr) {
		t.Fatalf("%s already listening", addr)
	}
	col := Start(t, Options{Port: port})
	if col.GRPCEndpoint() != addr || col.GRPCPort() != port {
		t.Fatalf("GRPCEndpoint %q, want %q", col.GRPCEndpoint(), addr)
	}
	if !listening(addr) {
		t.Fatalf("%s not listening", addr)
	}
	if !strings.HasPrefix(col.HTTPEndpoint(), "http://127.0.0.1:") || col.HTTPPort() == port {
		t.Errorf("HTTPEndpoint %q", col.HTTPEndpoint())
	}
	col.Stop()
	col.Stop() // idempotent
	if listening(addr) {
		t.Errorf("%s still listening after Stop", addr)
	}

	// A collector restarted on the same port gets fresh, empty files.
	col2 := Start(t, Options{Port: port})
	if !listening(addr) {
		t.Fatalf("restarted collector: %s not listening", addr)
	}
	if col2.TracesFile() == col.TracesFile() {
		t.Errorf("restarted collector reuses %s", col.TracesFile())
	}
	if spans, err := col2.Spans(); err != nil || len(spans) != 0 {
		t.Errorf("restarted collector: %d spans, %v", len(spans), err)
	}
}

// TestCollectorDiscardE2E: a collector that keeps nothing takes OTLP,
// logs its one-line summary, writes no file, and says so when read.
func TestCollectorDiscardE2E(t *testing.T) {
	requireE2E(t)
	col := Start(t, Options{Discard: true})
	post(t, col.HTTPEndpoint()+"/v1/traces", []byte(tracesPayload))
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(col.Output(), `"spans": 3`) {
		if time.Now().After(deadline) {
			t.Fatalf("no debug summary of the 3 spans in the output:\n%s", col.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := col.Spans(); !errors.Is(err, errDiscards) {
		t.Errorf("Spans of a collector that keeps nothing: %v", err)
	}
	if _, err := col.Metrics(); !errors.Is(err, errDiscards) {
		t.Errorf("Metrics: %v", err)
	}
	if _, err := os.Stat(col.TracesFile()); !os.IsNotExist(err) {
		t.Errorf("traces file: %v, want none", err)
	}
}
