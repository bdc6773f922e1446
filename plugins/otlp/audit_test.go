package otlp

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/argusmcp/argus/sdk"
	"github.com/argusmcp/argus/sdk/sdktest"
)

// logsCollector is a real gRPC OTLP logs receiver in the test process.
type logsCollector struct {
	collogspb.UnimplementedLogsServiceServer
	mu       sync.Mutex
	records  []*logspb.LogRecord
	requests int
	fail     int    // answer Unavailable this many times first
	failFrom string // answer Unavailable to requests holding this event id, while fail > 0
	reject   int64  // report this many records rejected (partial success)
}

func (c *logsCollector) Export(_ context.Context, req *collogspb.ExportLogsServiceRequest) (*collogspb.ExportLogsServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var recs []*logspb.LogRecord
	for _, rl := range req.ResourceLogs {
		for _, sl := range rl.ScopeLogs {
			recs = append(recs, sl.LogRecords...)
		}
	}
	if c.fail > 0 && (c.failFrom == "" || strings.Contains(fmt.Sprint(recs), c.failFrom)) {
		c.fail--
		return nil, status.Error(codes.Unavailable, "restarting")
	}
	c.requests++
	c.records = append(c.records, recs...)
	resp := &collogspb.ExportLogsServiceResponse{}
	if c.reject > 0 {
		resp.PartialSuccess = &collogspb.ExportLogsPartialSuccess{RejectedLogRecords: c.reject, ErrorMessage: "too old"}
	}
	return resp, nil
}

// eventIDs are the argus.audit.event_id attributes received, in order.
func (c *logsCollector) eventIDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for _, r := range c.records {
		ids = append(ids, attr(r, "argus.audit.event_id"))
	}
	return ids
}

func attr(r *logspb.LogRecord, key string) string {
	for _, kv := range r.Attributes {
		if kv.Key != key {
			continue
		}
		switch v := kv.Value.Value.(type) {
		case *commonpb.AnyValue_StringValue:
			return v.StringValue
		case *commonpb.AnyValue_IntValue:
			return fmt.Sprint(v.IntValue)
		}
		return "?"
	}
	return ""
}

func startLogsCollector(t *testing.T) (*logsCollector, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &logsCollector{}
	srv := grpc.NewServer()
	collogspb.RegisterLogsServiceServer(srv, c)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return c, ln.Addr().String()
}

func TestAuditSinkConformance(t *testing.T) {
	_, addr := startLogsCollector(t)
	sdktest.SinkConformance(t, Plugin(), `endpoint = "`+addr+`"`)
}

// TestAuditSinkRecords: each event becomes one log record whose body is
// the event JSON and whose attributes carry the event id and key fields.
func TestAuditSinkRecords(t *testing.T) {
	c, addr := startLogsCollector(t)
	s := sdktest.Start(t, Plugin()).Sink(`endpoint = "` + addr + `"`)
	events := sdktest.AuditEvents(1, 3)
	ack, err := s.Write(context.Background(), events...)
	if err != nil || ack != 3 {
		t.Fatalf("Write = %d, %v; want 3", ack, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.records) != 3 {
		t.Fatalf("collector got %d records, want 3", len(c.records))
	}
	for i, r := range c.records {
		var ev map[string]any
		if err := json.Unmarshal(events[i].JSON, &ev); err != nil {
			t.Fatal(err)
		}
		if got := r.Body.GetStringValue(); got != string(events[i].JSON) {
			t.Errorf("record %d body = %s, want the event JSON", i, got)
		}
		for key, want := range map[string]string{
			"argus.audit.event_id": ev["event_id"].(string), "argus.audit.event_type": "mcp_operation",
			"argus.audit.outcome": "success", "argus.audit.backend": "demo", "argus.audit.method": "call_tool",
			"argus.audit.capability": "demo_search", "user.id": "alice", "mcp.session.id": "sdktest-session",
			"argus.audit.stream": "sdktest", "argus.audit.seq": fmt.Sprint(i + 1),
		} {
			if got := attr(r, key); got != want {
				t.Errorf("record %d %s = %q, want %q", i, key, got, want)
			}
		}
		if r.EventName != "argus.audit.mcp_operation" || r.TimeUnixNano == 0 || r.SeverityNumber != logspb.SeverityNumber_SEVERITY_NUMBER_INFO {
			t.Errorf("record %d: event name %q, time %d, severity %v", i, r.EventName, r.TimeUnixNano, r.SeverityNumber)
		}
	}
}

// TestAuditSinkAcknowledgesOnlyAccepted: while the collector refuses, a
// Write fails and acknowledges nothing; sent again, the batch arrives once.
func TestAuditSinkAcknowledgesOnlyAccepted(t *testing.T) {
	c, addr := startLogsCollector(t)
	c.fail = 1 << 30
	s := sdktest.Start(t, Plugin()).Sink(`endpoint = "` + addr + `"`)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	ack, err := s.Write(ctx, sdktest.AuditEvents(1, 5)...)
	if err == nil || ack != 0 {
		t.Fatalf("Write while the collector refuses = %d, %v; want an error and no ack", ack, err)
	}
	if !strings.Contains(err.Error(), "restarting") {
		t.Errorf("error %q does not carry the collector's reason", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Write gave up after %v, beyond the caller's deadline", d)
	}
	c.mu.Lock()
	c.fail = 0
	c.mu.Unlock()
	ack, err = s.Write(context.Background(), sdktest.AuditEvents(1, 5)...)
	if err != nil || ack != 5 {
		t.Fatalf("Write after recovery = %d, %v; want 5", ack, err)
	}
	if ids := c.eventIDs(); len(ids) != 5 {
		t.Errorf("collector holds %d records, want 5: %v", len(ids), ids)
	}
}

// TestAuditSinkSplitsAndResumes: a batch larger than one request is split;
// when a later request fails, the accepted part is acknowledged and not
// sent again with the batch.
func TestAuditSinkSplitsAndResumes(t *testing.T) {
	c, addr := startLogsCollector(t)
	big := strings.Repeat("x", maxRequestBytes/4) // three events to a request
	events := make([]sdk.Event, 6)
	for i := range events {
		b, _ := json.Marshal(map[string]any{"event_type": "mcp_operation", "event_id": fmt.Sprintf("id-%d", i+1), "outcome": map[string]any{"status": "error", "error": big}})
		events[i] = sdk.Event{Seq: uint64(i + 1), JSON: b}
	}
	c.fail, c.failFrom = 1<<30, "id-4"
	s := sdktest.Start(t, Plugin()).Sink(`endpoint = "` + addr + `"`)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if _, err := s.Write(ctx, events...); err == nil {
		t.Fatal("Write succeeded while the collector refused part of it")
	}
	ack, err := s.Flush(context.Background())
	if err != nil || ack != 3 {
		t.Fatalf("Flush after a partly accepted batch = %d, %v; want 3 (the accepted request)", ack, err)
	}
	c.mu.Lock()
	c.fail = 0
	c.mu.Unlock()
	if ack, err := s.Write(context.Background(), events...); err != nil || ack != 6 {
		t.Fatalf("Write again = %d, %v; want 6", ack, err)
	}
	ids := c.eventIDs()
	if strings.Join(ids, ",") != "id-1,id-2,id-3,id-4,id-5,id-6" {
		t.Errorf("collector received %v, want each of id-1…id-6 once, in order", ids)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.requests != 2 {
		t.Errorf("%d accepted requests for six quarter-request events; want 2", c.requests)
	}
	if c.records[0].SeverityNumber != logspb.SeverityNumber_SEVERITY_NUMBER_WARN {
		t.Errorf("an error outcome has severity %v, want WARN", c.records[0].SeverityNumber)
	}
}

// TestAuditSinkPartialSuccessIsNotResent: records the collector rejects
// for good are not sent again (that would duplicate the ones it kept).
func TestAuditSinkPartialSuccessIsNotResent(t *testing.T) {
	c, addr := startLogsCollector(t)
	c.reject = 1
	s := sdktest.Start(t, Plugin()).Sink(`endpoint = "` + addr + `"`)
	if ack, err := s.Write(context.Background(), sdktest.AuditEvents(1, 4)...); err != nil || ack != 4 {
		t.Fatalf("Write = %d, %v; want 4", ack, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.requests != 1 {
		t.Errorf("%d requests, want 1", c.requests)
	}
}

func TestAuditSinkOverHTTP(t *testing.T) {
	var mu sync.Mutex
	var got []*logspb.LogRecord
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req collogspb.ExportLogsServiceRequest
		if r.URL.Path != "/v1/logs" || proto.Unmarshal(body, &req) != nil {
			w.WriteHeader(400)
			return
		}
		mu.Lock()
		for _, rl := range req.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				got = append(got, sl.LogRecords...)
			}
		}
		mu.Unlock()
		b, _ := proto.Marshal(&collogspb.ExportLogsServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(b)
	}))
	defer srv.Close()
	s := sdktest.Start(t, Plugin()).Sink(`
protocol = "http/protobuf"
endpoint = "` + srv.URL + `"
`)
	if ack, err := s.Write(context.Background(), sdktest.AuditEvents(1, 2)...); err != nil || ack != 2 {
		t.Fatalf("Write = %d, %v; want 2", ack, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || attr(got[1], "argus.audit.seq") != "2" {
		t.Errorf("server got %d records", len(got))
	}
}

// TestLogRecordToleratesOddEvents: an event that is not an object, or has
// fields of unexpected types, is still sent with what can be read.
func TestLogRecordToleratesOddEvents(t *testing.T) {
	r := logRecord(sdk.Event{Seq: 7, JSON: []byte(`not json`)}, "s", 1)
	if r.Body.GetStringValue() != "not json" || attr(r, "argus.audit.seq") != "7" {
		t.Errorf("non-JSON event: %v", r)
	}
	r = logRecord(sdk.Event{Seq: 8, JSON: []byte(`{"event_id":"e-8","source":{"user_id":42},"metadata":{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"}}`)}, "s", 1)
	if attr(r, "argus.audit.event_id") != "e-8" || attr(r, "user.id") != "" || len(r.TraceId) != 16 || len(r.SpanId) != 8 {
		t.Errorf("event with an odd field: %v", r)
	}
}
