package otlp

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/grpc"

	"github.com/argusmcp/argus/sdk"
)

// sinkFactory makes the plugin an audit sink that sends every audit event
// as an OTLP log record:
//
//	audit {
//	  sink "otlp" "collector" {
//	    endpoint = "otel-collector:4317"
//	  }
//	}
//
// The body is the event's JSON exactly as the jsonl sink writes it (before
// that sink's delivery and integrity fields); attributes repeat the key
// fields (see logRecord). A Write returns only after the collector accepted
// every record of the batch, so an event is acknowledged to Argus, and
// leaves its queue, once the collector has it; until then Argus keeps it
// and sends it again. The configuration follows the exporter's, with the
// logs signal's variables (OTEL_EXPORTER_OTLP_LOGS_ENDPOINT, …).
func sinkFactory() sdk.SinkFactory {
	return sdk.SinkFactory{
		Schema: sdk.NewSchema().
			String("endpoint", "OTLP endpoint: host:port for grpc, a URL for http/protobuf (/v1/logs is appended). Default: $OTEL_EXPORTER_OTLP_ENDPOINT, else localhost:4317 (grpc) or http://localhost:4318 (http/protobuf).").
			String("logs_endpoint", "Endpoint for logs only (http/protobuf: the full URL, e.g. http://host:4318/v1/logs). Default: $OTEL_EXPORTER_OTLP_LOGS_ENDPOINT.").
			String("protocol", `"grpc" or "http/protobuf". Default: $OTEL_EXPORTER_OTLP_LOGS_PROTOCOL, $OTEL_EXPORTER_OTLP_PROTOCOL, else grpc.`).
			StringMap("headers", "Headers sent with every export (for example an API key).", sdk.Sensitive()).
			Bool("insecure", "Plain-text gRPC (no TLS). Default: $OTEL_EXPORTER_OTLP_INSECURE, else true for endpoints on loopback.").
			Duration("timeout", "Bound on one export attempt. Default: $OTEL_EXPORTER_OTLP_TIMEOUT, else 10s. Failed attempts are retried within Argus's call to the sink, then the whole batch again from Argus's queue."),
		Validate: func(cfg sdk.Config) error {
			_, err := settingsFrom(cfg, os.LookupEnv, sigLogs)
			return err
		},
		New: func(_ context.Context, cfg sdk.Config) (sdk.Sink, error) {
			s, err := settingsFrom(cfg, os.LookupEnv, sigLogs)
			if err != nil {
				return nil, err
			}
			c, err := newClient(s, cfg.Logger(), s.Logs)
			if err != nil {
				return nil, err
			}
			cfg.Logger().Info("sending audit events as OTLP logs", "logs", s.Logs.Protocol+" "+s.Logs.Endpoint)
			return &auditSink{client: c, resource: auditResource()}, nil
		},
	}
}

// maxRequestBytes bounds the event JSON in one export request, well below
// the 4 MiB a collector's gRPC receiver accepts by default; a larger batch
// goes out as several requests.
const maxRequestBytes = 1 << 20

// auditSink sends audit events as OTLP log records. It is an sdk.Acker:
// acked is the newest event the collector has accepted, so when a batch
// fails part-way (split into several requests), the parts already
// accepted are acknowledged and skipped when Argus sends the batch again.
type auditSink struct {
	*client
	resource *resourcepb.Resource

	// Written by Write, which the SDK calls one at a time; read by Acked
	// from the same goroutine.
	stream string
	acked  uint64
}

// Acked implements sdk.Acker.
func (a *auditSink) Acked() uint64 { return a.acked }

// Write implements sdk.Sink: it returns once the collector accepted every
// event, or with the error that stopped it.
func (a *auditSink) Write(ctx context.Context, events []sdk.Event) error {
	if st := sdk.Stream(ctx); st != a.stream {
		a.stream, a.acked = st, 0
	}
	for len(events) > 0 && events[0].Seq <= a.acked {
		events = events[1:]
	}
	for len(events) > 0 {
		n, size := 0, 0
		for n < len(events) && (n == 0 || size+len(events[n].JSON) <= maxRequestBytes) {
			size += len(events[n].JSON)
			n++
		}
		if err := a.send(ctx, events[:n]); err != nil {
			return err
		}
		a.acked = events[n-1].Seq
		events = events[n:]
	}
	return nil
}

// send exports one request and returns once the collector accepted it.
// Records the collector rejects for good (a partial success) are logged as
// an error and not sent again: the collector has decided, and sending the
// request again would duplicate the records it kept.
func (a *auditSink) send(ctx context.Context, events []sdk.Event) error {
	now := uint64(time.Now().UnixNano())
	records := make([]*logspb.LogRecord, len(events))
	for i, e := range events {
		records[i] = logRecord(e, a.stream, now)
	}
	req := &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource: a.resource,
		ScopeLogs: []*logspb.ScopeLogs{{
			Scope:      &commonpb.InstrumentationScope{Name: "argus.audit", Version: Version},
			LogRecords: records,
		}},
	}}}
	resp := &collogspb.ExportLogsServiceResponse{}
	err := a.export(ctx, "logs", a.s.Logs, encode(req), resp, func(ctx context.Context, conn *grpc.ClientConn) error {
		r, err := collogspb.NewLogsServiceClient(conn).Export(ctx, req)
		if err == nil {
			resp = r
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("otlp: audit events %d-%d to %s: %w", events[0].Seq, events[len(events)-1].Seq, a.s.Logs.Endpoint, err)
	}
	if ps := resp.GetPartialSuccess(); ps.GetRejectedLogRecords() > 0 {
		a.log.Error("the collector rejected audit events", "rejected", ps.GetRejectedLogRecords(),
			"first_seq", events[0].Seq, "last_seq", events[len(events)-1].Seq, "message", ps.GetErrorMessage())
	}
	return nil
}

// auditResource describes the Argus process: service.name from
// $OTEL_SERVICE_NAME (default "argus") and host.name, so events from
// several replicas stay apart.
func auditResource() *resourcepb.Resource {
	name := os.Getenv("OTEL_SERVICE_NAME")
	if name == "" {
		name = "argus"
	}
	attrs := []*commonpb.KeyValue{str("service.name", name)}
	if h, err := os.Hostname(); err == nil {
		attrs = append(attrs, str("host.name", h))
	}
	return &resourcepb.Resource{Attributes: attrs}
}

// auditFields are the event fields repeated as attributes.
type auditFields struct {
	Timestamp string `json:"timestamp"`
	EventType string `json:"event_type"`
	EventID   string `json:"event_id"`
	Source    struct {
		SessionID string `json:"session_id"`
		ClientIP  string `json:"client_ip"`
		UserID    string `json:"user_id"`
	} `json:"source"`
	Target struct {
		Backend        string `json:"backend"`
		Method         string `json:"method"`
		CapabilityName string `json:"capability_name"`
	} `json:"target"`
	Outcome struct {
		Status    string `json:"status"`
		ErrorType string `json:"error_type"`
	} `json:"outcome"`
	Metadata struct {
		TraceID string `json:"trace_id"`
		SpanID  string `json:"span_id"`
	} `json:"metadata"`
}

// logRecord is one event as an OTLP log record: body the event JSON as a
// string; event name argus.audit.<event_type>; time the event's
// timestamp; severity INFO, or WARN for an error outcome; trace and span
// ids from the event's metadata; attributes argus.audit.event_id,
// argus.audit.event_type, argus.audit.stream, argus.audit.seq,
// argus.audit.outcome, argus.audit.error_type, argus.audit.backend,
// argus.audit.method, argus.audit.capability, user.id, mcp.session.id and
// client.address, each only when the event has it. An event that is not
// the expected JSON is still sent, with stream and seq only.
func logRecord(e sdk.Event, stream string, observed uint64) *logspb.LogRecord {
	r := &logspb.LogRecord{
		ObservedTimeUnixNano: observed,
		SeverityNumber:       logspb.SeverityNumber_SEVERITY_NUMBER_INFO,
		SeverityText:         "INFO",
		Body:                 &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: string(e.JSON)}},
		Attributes: []*commonpb.KeyValue{
			str("argus.audit.stream", stream),
			{Key: "argus.audit.seq", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: int64(e.Seq)}}},
		},
	}
	var f auditFields
	if err := json.Unmarshal(e.JSON, &f); err != nil {
		// A field of another type than expected leaves only that field
		// empty; anything else is not an event object.
		if te := (*json.UnmarshalTypeError)(nil); !errors.As(err, &te) {
			return r
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, f.Timestamp); err == nil {
		r.TimeUnixNano = uint64(t.UnixNano())
	}
	if f.EventType != "" {
		r.EventName = "argus.audit." + f.EventType
	}
	if f.Outcome.Status == "error" {
		r.SeverityNumber, r.SeverityText = logspb.SeverityNumber_SEVERITY_NUMBER_WARN, "WARN"
	}
	if b, err := hex.DecodeString(f.Metadata.TraceID); err == nil && len(b) == 16 {
		r.TraceId = b
	}
	if b, err := hex.DecodeString(f.Metadata.SpanID); err == nil && len(b) == 8 {
		r.SpanId = b
	}
	for _, kv := range [][2]string{
		{"argus.audit.event_id", f.EventID},
		{"argus.audit.event_type", f.EventType},
		{"argus.audit.outcome", f.Outcome.Status},
		{"argus.audit.error_type", f.Outcome.ErrorType},
		{"argus.audit.backend", f.Target.Backend},
		{"argus.audit.method", f.Target.Method},
		{"argus.audit.capability", f.Target.CapabilityName},
		{"user.id", f.Source.UserID},
		{"mcp.session.id", f.Source.SessionID},
		{"client.address", f.Source.ClientIP},
	} {
		if kv[1] != "" {
			r.Attributes = append(r.Attributes, str(kv[0], kv[1]))
		}
	}
	return r
}

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}
