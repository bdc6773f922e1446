package audit

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func TestRecentKeepsNewestFirstAndBounded(t *testing.T) {
	r := NewRecent(3)
	for i := range 5 {
		r.Add([]byte(fmt.Sprint(i)))
	}
	got := r.Newest(0, nil)
	if s := fmt.Sprintf("%s", got); s != "[4 3 2]" {
		t.Fatalf("Newest = %s, want [4 3 2]", s)
	}
	if s := fmt.Sprintf("%s", r.Newest(2, func(b []byte) bool { return b[0] != '3' })); s != "[4 2]" {
		t.Fatalf("filtered Newest = %s, want [4 2]", s)
	}
	if r.Cap() != 3 {
		t.Fatalf("Cap = %d", r.Cap())
	}
	if NewRecent(0) != nil || NewRecent(0).Newest(5, nil) != nil {
		t.Fatal("a zero-size ring keeps something")
	}
}

// TestRecentSlowSubscriberDoesNotBlock: Add runs on the request path; a
// subscriber that stops reading loses its subscription instead.
func TestRecentSlowSubscriberDoesNotBlock(t *testing.T) {
	r := NewRecent(10)
	ch, cancel := r.Subscribe(2)
	defer cancel()
	for i := range 100 { // would deadlock if Add waited for the reader
		r.Add([]byte(fmt.Sprint(i)))
	}
	var got []string
	for b := range ch {
		got = append(got, string(b))
	}
	if strings.Join(got, ",") != "0,1" {
		t.Fatalf("subscriber got %v, want the two events that fitted, then a closed channel", got)
	}
	cancel() // after the close: must not panic
}

// TestPipelineFeedsRecentTheRedactedEvent: the ring holds exactly what
// the sinks receive.
func TestPipelineFeedsRecentTheRedactedEvent(t *testing.T) {
	sink := newFakeSink()
	q := NewQueue(sink, QueueOptions{})
	recent := NewRecent(10)
	p := NewPipeline([]*Queue{q}, Options{Recent: recent,
		Redact: func(b []byte) []byte { return []byte(strings.ReplaceAll(string(b), "s3cret", "[REDACTED]")) }})
	e := Event{EventType: TypeOperation, EventID: "id-1", Timestamp: "2026-01-01T00:00:00.000000+00:00",
		Outcome: Outcome{Status: "error", Error: strPtr("token s3cret refused")}}
	if err := p.Record(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := recent.Newest(0, nil)
	if len(got) != 1 || strings.Contains(string(got[0]), "s3cret") || !strings.Contains(string(got[0]), "[REDACTED]") {
		t.Fatalf("ring holds %q", got)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.order) != 1 || string(sink.written[sink.order[0]]) != string(got[0]) {
		t.Fatalf("sink got %v, ring %q: want the same bytes", sink.written, got)
	}
}

// BenchmarkRecentAdd is the ring's share of recording one event on the
// request path, with a live-tail subscriber that reads everything.
func BenchmarkRecentAdd(b *testing.B) {
	r := NewRecent(DefaultRecent)
	ch, cancel := r.Subscribe(256)
	defer cancel()
	go func() {
		for range ch {
		}
	}()
	event := []byte(`{"timestamp":"2026-11-30T10:00:00.000000+00:00","event_type":"mcp_operation"}`)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Add(event)
		}
	})
}
