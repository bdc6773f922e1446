package sdktest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/argusmcp/argus/sdk"
	"github.com/argusmcp/argus/shared"
	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// SinkClient calls a configured audit sink.
type SinkClient struct {
	c pluginv1.AuditSinkServiceClient
	// Stream is sent with every Write; default "sdktest".
	Stream string
}

// Sink configures the plugin as an audit sink with config (HCL) and
// returns a client for it; diagnostics fail the test.
func (h *Harness) Sink(config string) *SinkClient {
	h.t.Helper()
	h.MustConfigure(KindAuditSink, config, ConfigureOptions{})
	return &SinkClient{c: pluginv1.NewAuditSinkServiceClient(h.conn.GRPC), Stream: "sdktest"}
}

// Write sends events as one batch and returns the acknowledged sequence
// number.
func (s *SinkClient) Write(ctx context.Context, events ...sdk.Event) (uint64, error) {
	req := &pluginv1.WriteRequest{Stream: s.Stream}
	for _, e := range events {
		req.Events = append(req.Events, &pluginv1.AuditEvent{Seq: e.Seq, Json: e.JSON})
	}
	resp, err := s.c.Write(ctx, req)
	return resp.GetAckedSeq(), err
}

// Flush calls Flush.
func (s *SinkClient) Flush(ctx context.Context) (uint64, error) {
	resp, err := s.c.Flush(ctx, &pluginv1.FlushRequest{})
	return resp.GetAckedSeq(), err
}

// Close calls Close.
func (s *SinkClient) Close(ctx context.Context) (uint64, error) {
	resp, err := s.c.Close(ctx, &pluginv1.CloseRequest{})
	return resp.GetAckedSeq(), err
}

// AuditEvents returns n audit events in the documented format with
// sequence numbers first, first+1, ….
func AuditEvents(first uint64, n int) []sdk.Event {
	out := make([]sdk.Event, n)
	for i := range out {
		seq := first + uint64(i)
		ev := map[string]any{
			"timestamp":  time.Date(2026, 2, 23, 12, 34, 56, int(seq%1000)*1000, time.UTC).Format("2006-01-02T15:04:05.000000+00:00"),
			"event_type": "mcp_operation",
			"event_id":   fmt.Sprintf("a1b2c3d4-e5f6-4890-abcd-%012x", seq),
			"source":     map[string]any{"session_id": "sdktest-session", "client_ip": "127.0.0.1", "user_id": "alice"},
			"target":     map[string]any{"backend": "demo", "method": "call_tool", "capability_name": "demo_search", "original_name": "search"},
			"outcome":    map[string]any{"status": "success", "latency_ms": 42.5, "error": nil, "error_type": nil},
			"metadata":   map[string]any{"seq": seq},
		}
		b, _ := json.Marshal(ev)
		out[i] = sdk.Event{Seq: seq, JSON: b}
	}
	return out
}

// SinkConformance checks that p behaves as Argus expects of an audit sink
// configured with config (the HCL body of its sink block; it must accept
// writes, for example by pointing at a test server):
//
//   - GetInfo names the plugin, protocol 1, the audit sink kind;
//   - its schema is valid and config passes a dry run;
//   - acknowledgements never exceed what was written, never go backwards,
//     and cover everything after Flush and Close;
//   - a batch sent again (as after a host-side timeout) and overlapping
//     batches are accepted without error;
//   - empty batches are accepted;
//   - Shutdown after Close succeeds and a second Shutdown too.
//
// Each check runs against a fresh in-process plugin.
func SinkConformance(t *testing.T, p *sdk.Plugin, config string) {
	t.Run("Info", func(t *testing.T) { checkInfo(t, Start(t, p), p, KindAuditSink) })
	t.Run("DryRun", func(t *testing.T) {
		h := Start(t, p)
		h.Schema(KindAuditSink) // fails the test if invalid
		if out := h.Configure(KindAuditSink, config, ConfigureOptions{DryRun: true}); out != "" {
			t.Fatalf("dry run rejected the configuration:\n%s", out)
		}
	})
	t.Run("WriteAndAck", func(t *testing.T) {
		ctx := context.Background()
		s := Start(t, p).Sink(config)
		var prev uint64
		for i := range 3 {
			ack, err := s.Write(ctx, AuditEvents(uint64(i*10+1), 10)...)
			if err != nil {
				t.Fatalf("batch %d: %v", i, err)
			}
			checkAck(t, ack, prev, uint64(i*10+10))
			prev = ack
		}
		ack, err := s.Flush(ctx)
		if err != nil || ack != 30 {
			t.Fatalf("Flush = %d, %v; want 30", ack, err)
		}
	})
	t.Run("Replay", func(t *testing.T) {
		ctx := context.Background()
		s := Start(t, p).Sink(config)
		if _, err := s.Write(ctx, AuditEvents(1, 5)...); err != nil {
			t.Fatal(err)
		}
		for _, batch := range [][]sdk.Event{AuditEvents(1, 5), AuditEvents(3, 6)} {
			ack, err := s.Write(ctx, batch...)
			if err != nil {
				t.Fatalf("replayed batch: %v", err)
			}
			checkAck(t, ack, 0, batch[len(batch)-1].Seq)
		}
		if ack, err := s.Flush(ctx); err != nil || ack != 8 {
			t.Fatalf("Flush = %d, %v; want 8", ack, err)
		}
	})
	t.Run("EmptyBatch", func(t *testing.T) {
		s := Start(t, p).Sink(config)
		if ack, err := s.Write(context.Background()); err != nil || ack != 0 {
			t.Fatalf("empty batch = %d, %v; want 0, nil", ack, err)
		}
	})
	t.Run("Close", func(t *testing.T) {
		ctx := context.Background()
		h := Start(t, p)
		s := h.Sink(config)
		if _, err := s.Write(ctx, AuditEvents(1, 3)...); err != nil {
			t.Fatal(err)
		}
		if ack, err := s.Close(ctx); err != nil || ack != 3 {
			t.Fatalf("Close = %d, %v; want 3", ack, err)
		}
		for range 2 {
			if err := h.Shutdown(); err != nil {
				t.Fatalf("Shutdown after Close: %v", err)
			}
		}
	})
}

func checkAck(t *testing.T, ack, prev, written uint64) {
	t.Helper()
	if ack > written {
		t.Fatalf("acked %d, but only %d events were written", ack, written)
	}
	if ack < prev {
		t.Fatalf("ack went backwards: %d after %d", ack, prev)
	}
}

func checkInfo(t *testing.T, h *Harness, p *sdk.Plugin, kind Kind) {
	t.Helper()
	info := h.Info()
	if info.Name != p.Name() || info.Name == "" {
		t.Errorf("GetInfo name = %q, want %q", info.Name, p.Name())
	}
	if info.Version == "" {
		t.Errorf("GetInfo has no version")
	}
	if info.ProtocolVersion != shared.ProtocolVersion {
		t.Errorf("GetInfo protocol = %d, want %d", info.ProtocolVersion, shared.ProtocolVersion)
	}
	if !slices.Contains(info.Kinds, kind) {
		t.Errorf("GetInfo kinds = %v, want %s among them", info.Kinds, kind)
	}
}
