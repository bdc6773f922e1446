package audit

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"weak"
)

// discardSink acknowledges every event as soon as it is written and
// keeps none.
type discardSink struct{ done chan struct{} }

func (s *discardSink) Name() string { return "discard" }
func (s *discardSink) Connect(context.Context) (Conn, error) {
	return s, nil
}
func (s *discardSink) Write(_ context.Context, _ string, batch []Record) (uint64, error) {
	return batch[len(batch)-1].Seq, nil
}
func (s *discardSink) Flush(context.Context) (uint64, error) { return 0, nil }
func (s *discardSink) Close(context.Context) (uint64, error) { return 0, nil }
func (s *discardSink) Done() <-chan struct{}                 { return s.done }

// TestQueueLetsAcknowledgedEventsGo: once the sink has acknowledged
// them, the queue holds no reference to the events it delivered, so a
// gateway idle after load does not keep them resident (it kept up to the
// capacity of the queue's array of them, megabytes after a burst).
func TestQueueLetsAcknowledgedEventsGo(t *testing.T) {
	q := NewQueue(&discardSink{done: make(chan struct{})}, QueueOptions{Stream: "st", BatchSize: 16, Linger: -1})
	defer q.Close(context.Background())
	const n = 1000
	refs := make([]weak.Pointer[byte], 0, n)
	var seq atomic.Uint64
	for range n {
		event := make([]byte, 600)
		refs = append(refs, weak.Make(&event[0]))
		s, err := q.enqueue(context.Background(), event)
		if err != nil {
			t.Fatal(err)
		}
		seq.Store(s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.WaitAcked(ctx, seq.Load()); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.GC()
	alive := 0
	for _, r := range refs {
		if r.Value() != nil {
			alive++
		}
	}
	if alive > 16 { // at most the last batch, held by the deliverer's last copy
		t.Errorf("%d of %d acknowledged events still reachable", alive, n)
	}
	if st := q.Stats(); st.Depth != 0 || st.Delivered != n {
		t.Errorf("stats %+v", st)
	}
}
