package recent

import (
	"fmt"
	"strings"
	"testing"
)

func TestRecentKeepsNewestFirstAndBounded(t *testing.T) {
	r := New(3)
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
	if New(0) != nil || New(0).Newest(5, nil) != nil {
		t.Fatal("a zero-size ring keeps something")
	}
}

// TestRecentSlowSubscriberDoesNotBlock: Add runs on the request path; a
// subscriber that stops reading loses its subscription instead.
func TestRecentSlowSubscriberDoesNotBlock(t *testing.T) {
	r := New(10)
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

// BenchmarkRecentAdd is the ring's share of recording one event on the
// request path, with a live-tail subscriber that reads everything.
func BenchmarkRecentAdd(b *testing.B) {
	r := New(DefaultSize)
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
