package audit

import (
	"context"
	"strings"
	"testing"

	"github.com/argusmcp/argus/host/audit/recent"
)

// TestPipelineFeedsRecentTheRedactedEvent: the ring holds exactly what
// the sinks receive.
func TestPipelineFeedsRecentTheRedactedEvent(t *testing.T) {
	sink := newFakeSink()
	q := NewQueue(sink, QueueOptions{})
	ring := recent.New(10)
	p := NewPipeline([]*Queue{q}, Options{Recent: ring,
		Redact: func(b []byte) []byte { return []byte(strings.ReplaceAll(string(b), "s3cret", "[REDACTED]")) }})
	e := Event{EventType: TypeOperation, EventID: "id-1", Timestamp: "2026-01-01T00:00:00.000000+00:00",
		Outcome: Outcome{Status: "error", Error: strPtr("token s3cret refused")}}
	if err := p.Record(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := ring.Newest(0, nil)
	if len(got) != 1 || strings.Contains(string(got[0]), "s3cret") || !strings.Contains(string(got[0]), "[REDACTED]") {
		t.Fatalf("ring holds %q", got)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.order) != 1 || string(sink.written[sink.order[0]]) != string(got[0]) {
		t.Fatalf("sink got %v, ring %q: want the same bytes", sink.written, got)
	}
}
