package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Record is one event on its way to one sink: its sequence number in the
// sink's delivery stream and its JSON.
type Record struct {
	Seq  uint64
	JSON []byte
}

// Sink is where a Queue delivers: an audit sink plugin instance (see
// host/pluginhost/sink.Sink) or, in unit tests, a fake.
type Sink interface {
	// Name identifies the sink in logs and errors.
	Name() string
	// Connect waits (within ctx) until the sink runs and returns a
	// connection to its current process.
	Connect(ctx context.Context) (Conn, error)
}

// Conn is one process of a sink. Write returns the highest sequence number
// up to which every event is durable; events after it may need to be sent
// again to a later Conn.
type Conn interface {
	Write(ctx context.Context, stream string, batch []Record) (acked uint64, err error)
	Flush(ctx context.Context) (acked uint64, err error)
	Close(ctx context.Context) (acked uint64, err error)
	// Done is closed when the process is gone.
	Done() <-chan struct{}
}

// Full-queue policies.
const (
	OnFullBlock = "block" // the request waits for room (backpressure)
	OnFullDrop  = "drop"  // the event is dropped and counted
)

// QueueOptions configure one sink's queue.
type QueueOptions struct {
	// Stream identifies this host process's delivery stream.
	Stream string
	// Capacity bounds unacknowledged events held in memory (default 10000).
	Capacity int
	// OnFull is OnFullBlock (default) or OnFullDrop.
	OnFull string
	// Required makes the gateway refuse audited calls while this sink
	// cannot accept (see Pipeline.Accepting).
	Required bool
	// BatchSize bounds one Write (default 512).
	BatchSize int
	// CallTimeout bounds one call to the sink (default 10s).
	CallTimeout time.Duration
	// AckBeforeReply makes the pipeline's observer wait, before an
	// audited call is answered, until this sink has acknowledged the
	// call's event (bounded by CallTimeout; see Pipeline.Observer).
	AckBeforeReply bool
	// Linger is how long the queue waits after the first new event for
	// more to join its batch (default DefaultLinger, or no wait with
	// AckBeforeReply, where calls waiting for their events batch them
	// anyway; negative: no wait). Fewer, larger writes keep the sink
	// protocol's cost per event low.
	Linger time.Duration
	Logger hclog.Logger
}

// DefaultLinger is QueueOptions.Linger's default: a sink gets at most
// about ten writes a second while events trickle in. Each write is a
// plugin call that wakes both processes, which costs far more than the
// events in it: with 10ms the jsonl sink used a third of a millisecond of
// CPU per proxied call at concurrency 1 (BenchmarkHop, by process). 100ms
// stays well inside the sinks' own durability lag (fsync_interval, 1s by
// default); ack_before_reply does not linger.
const DefaultLinger = 100 * time.Millisecond

// idleFlushEvery is how often a queue with unacknowledged events flushes
// its sink while no write happens, so that acknowledgements of sinks that
// make writes durable later (timed fsync) catch up when traffic stops.
const idleFlushEvery = 250 * time.Millisecond

// Queue delivers events to one sink: bounded, batched, acknowledged, and
// replayed from the last acknowledgement when the sink's process changes.
type Queue struct {
	sink Sink
	o    QueueOptions
	log  hclog.Logger

	mu        sync.Mutex
	space     *sync.Cond // broadcast when items shrink or closing is set
	items     []Record   // unacknowledged, in seq order
	next      uint64     // last seq assigned
	acked     uint64
	connected bool
	closing   bool

	wake chan struct{} // new items (coalesced)
	done chan struct{} // run has returned
	stop context.CancelFunc

	ackTimeouts atomic.Uint64 // AckBeforeReply waits that ended unacknowledged

	dropped   atomic.Uint64
	failed    atomic.Uint64
	delivered atomic.Uint64
	lastErr   atomic.Pointer[string]
}

// NewQueue starts delivering to sink.
func NewQueue(sink Sink, o QueueOptions) *Queue {
	if o.Capacity <= 0 {
		o.Capacity = 10000
	}
	if o.OnFull == "" {
		o.OnFull = OnFullBlock
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 512
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 10 * time.Second
	}
	if o.Linger == 0 {
		o.Linger = DefaultLinger
		if o.AckBeforeReply {
			o.Linger = -1
		}
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	ctx, cancel := context.WithCancel(context.Background())
	q := &Queue{sink: sink, o: o, log: o.Logger.With("sink", sink.Name()), wake: make(chan struct{}, 1), done: make(chan struct{}), stop: cancel}
	q.space = sync.NewCond(&q.mu)
	go q.run(ctx)
	return q
}

// ErrDropped is returned by Enqueue when the queue is full and OnFull is
// "drop", or when the queue is closed.
var ErrDropped = errors.New("audit event dropped")

// Enqueue hands one event to the queue. With OnFull "block" it waits for
// room until ctx ends (then the event is dropped and counted).
func (q *Queue) Enqueue(ctx context.Context, event []byte) error {
	_, err := q.enqueue(ctx, event)
	return err
}

// enqueue is Enqueue, returning the event's sequence number.
func (q *Queue) enqueue(ctx context.Context, event []byte) (uint64, error) {
	q.mu.Lock()
	for len(q.items) >= q.o.Capacity && !q.closing {
		if q.o.OnFull == OnFullDrop || ctx.Err() != nil {
			q.mu.Unlock()
			q.dropped.Add(1)
			return 0, fmt.Errorf("%w: sink %q queue full (%d events)", ErrDropped, q.sink.Name(), q.o.Capacity)
		}
		stop := context.AfterFunc(ctx, func() {
			q.mu.Lock()
			q.space.Broadcast()
			q.mu.Unlock()
		})
		q.space.Wait()
		stop()
	}
	if q.closing {
		q.mu.Unlock()
		q.dropped.Add(1)
		return 0, fmt.Errorf("%w: sink %q is closed", ErrDropped, q.sink.Name())
	}
	q.next++
	seq := q.next
	q.items = append(q.items, Record{Seq: seq, JSON: event})
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return seq, nil
}

// ErrNotAcknowledged is returned by WaitAcked when the sink did not
// acknowledge the event in time.
var ErrNotAcknowledged = errors.New("audit event not acknowledged by its sink")

// WaitAcked waits until the sink has acknowledged every event up to seq
// (durable), ctx ends, or the queue has stopped delivering.
func (q *Queue) WaitAcked(ctx context.Context, seq uint64) error {
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		q.space.Broadcast()
		q.mu.Unlock()
	})
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.acked < seq {
		select {
		case <-q.done:
			q.ackTimeouts.Add(1)
			return fmt.Errorf("%w: sink %q stopped delivering (event %d, acknowledged up to %d)", ErrNotAcknowledged, q.sink.Name(), seq, q.acked)
		default:
		}
		if err := ctx.Err(); err != nil {
			q.ackTimeouts.Add(1)
			return fmt.Errorf("%w: sink %q, event %d (acknowledged up to %d): %w", ErrNotAcknowledged, q.sink.Name(), seq, q.acked, err)
		}
		q.space.Wait()
	}
	return nil
}

// batchAfter returns up to n queued records with seq > after.
func (q *Queue) batchAfter(after uint64, n int) []Record {
	q.mu.Lock()
	defer q.mu.Unlock()
	i := 0
	for i < len(q.items) && q.items[i].Seq <= after {
		i++
	}
	end := min(len(q.items), i+n)
	return append([]Record(nil), q.items[i:end]...)
}

// ack drops every record up to seq.
func (q *Queue) ack(seq uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if seq <= q.acked {
		return
	}
	i := 0
	for i < len(q.items) && q.items[i].Seq <= seq {
		i++
	}
	q.delivered.Add(uint64(i))
	// The acknowledged records' events leave memory with them: resliced
	// past, they stayed in the array's head, reachable (a gateway idle
	// after load kept up to the array's capacity of events, megabytes).
	clear(q.items[:i])
	if i == len(q.items) {
		q.items = q.items[:0] // fill the array from here again
	} else {
		q.items = q.items[i:]
	}
	if cap(q.items) > 4*q.o.Capacity && len(q.items) < q.o.Capacity {
		q.items = append([]Record(nil), q.items...) // let the old array go
	}
	q.acked = seq
	q.space.Broadcast()
}

var errGone = errors.New("sink process gone")

func (q *Queue) run(ctx context.Context) {
	defer func() {
		close(q.done)
		q.mu.Lock()
		q.space.Broadcast() // WaitAcked callers see done
		q.mu.Unlock()
	}()
	backoff := 100 * time.Millisecond
	var lastLog time.Time
	for {
		conn, err := q.sink.Connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			q.noteErr(err)
			if time.Since(lastLog) > 10*time.Second {
				q.log.Warn("audit sink unavailable; events are queued", "error", err, "queued", q.Depth())
				lastLog = time.Now()
			}
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		q.setConnected(true)
		delivered := q.delivered.Load()
		err = q.deliver(ctx, conn)
		q.setConnected(false)
		if err == nil {
			return // drained and closed
		}
		if ctx.Err() != nil {
			return
		}
		q.failed.Add(1)
		q.noteErr(err)
		if q.delivered.Load() > delivered {
			backoff = 100 * time.Millisecond // that connection did work
		}
		if time.Since(lastLog) > 10*time.Second {
			q.log.Warn("audit sink write failed; unacknowledged events will be replayed", "error", err, "queued", q.Depth(), "failed_writes", q.failed.Load())
			lastLog = time.Now()
		}
		// Wait before reconnecting even if the process is already gone:
		// the runtime may not have noticed yet and hand back the same
		// dead connection.
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// deliver sends everything unacknowledged to conn, then new events as they
// come; it returns nil once the queue is closing and drained (after
// flushing and closing the sink), or the error that ended conn.
func (q *Queue) deliver(ctx context.Context, conn Conn) error {
	q.mu.Lock()
	sent := q.acked // replay from the last acknowledgement
	q.mu.Unlock()
	tick := time.NewTicker(idleFlushEvery)
	defer tick.Stop()
	wrote := false // since the last tick
	call := func(f func(context.Context) (uint64, error)) error {
		cctx, cancel := context.WithTimeout(ctx, q.o.CallTimeout)
		defer cancel()
		a, err := f(cctx)
		if err != nil {
			return err
		}
		q.ack(a)
		return nil
	}
	lingered := false
	for {
		batch := q.batchAfter(sent, q.o.BatchSize)
		// A batch that is not full waits once, Linger long, for more
		// events: under load that turns one write per event into one
		// write per Linger.
		if len(batch) > 0 && len(batch) < q.o.BatchSize && q.o.Linger > 0 && !lingered && !q.isClosing() {
			lingered = true
			select {
			case <-time.After(q.o.Linger):
			case <-conn.Done():
				return errGone
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		lingered = false
		if len(batch) > 0 {
			if err := call(func(c context.Context) (uint64, error) { return conn.Write(c, q.o.Stream, batch) }); err != nil {
				return err
			}
			sent, wrote = batch[len(batch)-1].Seq, true
			continue
		}
		if q.isClosing() {
			if err := call(conn.Flush); err != nil {
				return err
			}
			if q.Depth() > 0 {
				continue // the flush did not cover everything; try again
			}
			return call(conn.Close)
		}
		select {
		case <-q.wake:
		case <-conn.Done():
			return errGone
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			// Sinks that make writes durable later (timed fsync) are
			// flushed while idle so acknowledgements catch up. While
			// writes go on their answers carry the acknowledgements, and
			// a flush would only force an extra fsync; calls waiting for
			// theirs (AckBeforeReply) are not kept waiting for a pause.
			if q.Depth() > 0 && (!wrote || q.o.AckBeforeReply) {
				if err := call(conn.Flush); err != nil {
					return err
				}
			}
			wrote = false
		}
	}
}

func (q *Queue) isClosing() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closing
}

func (q *Queue) setConnected(v bool) {
	q.mu.Lock()
	q.connected = v
	q.mu.Unlock()
}

func (q *Queue) noteErr(err error) {
	s := err.Error()
	q.lastErr.Store(&s)
}

// Depth is the number of events not yet acknowledged.
func (q *Queue) Depth() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// Accepting reports whether the sink can take events now: its process
// runs and its queue has room.
func (q *Queue) Accepting() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.connected && len(q.items) < q.o.Capacity && !q.closing
}

// Close stops accepting events, delivers what is queued, flushes and
// closes the sink. If ctx ends first the remaining events are lost, and
// Close says how many.
func (q *Queue) Close(ctx context.Context) error {
	q.mu.Lock()
	q.closing = true
	q.space.Broadcast()
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
		q.stop()
		<-q.done
		if n := q.Depth(); n > 0 {
			return fmt.Errorf("audit sink %q: %d events not delivered before shutdown: %w", q.sink.Name(), n, ctx.Err())
		}
		return nil
	}
}

// QueueStats describe a queue for the management API and metrics.
type QueueStats struct {
	Sink      string `json:"sink"`
	Required  bool   `json:"required"`
	Connected bool   `json:"connected"`
	Depth     int    `json:"queue_depth"`
	Capacity  int    `json:"queue_capacity"`
	Acked     uint64 `json:"acked_seq"`
	Delivered uint64 `json:"delivered"`
	Dropped   uint64 `json:"dropped"`
	Failed    uint64 `json:"failed_writes"`
	// AckBeforeReply: calls wait for this sink's acknowledgement;
	// AckTimeouts counts the calls answered without it (sink too slow or
	// gone). Both always present, so a monitor can key on them.
	AckBeforeReply bool   `json:"ack_before_reply"`
	AckTimeouts    uint64 `json:"ack_timeouts"`
	LastError      string `json:"last_error,omitempty"`
}

// Stats reports the queue's state.
func (q *Queue) Stats() QueueStats {
	q.mu.Lock()
	s := QueueStats{Sink: q.sink.Name(), Required: q.o.Required, Connected: q.connected, Depth: len(q.items),
		Capacity: q.o.Capacity, Acked: q.acked, AckBeforeReply: q.o.AckBeforeReply}
	q.mu.Unlock()
	s.Delivered, s.Dropped, s.Failed = q.delivered.Load(), q.dropped.Load(), q.failed.Load()
	s.AckTimeouts = q.ackTimeouts.Load()
	if e := q.lastErr.Load(); e != nil {
		s.LastError = *e
	}
	return s
}
