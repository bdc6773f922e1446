package audit

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/logging"
	"github.com/argusmcp/argus/host/request"
)

var update = flag.Bool("update", false, "rewrite golden files")

var start = time.Date(2026, 2, 23, 12, 34, 56, 789000000, time.UTC)

func call(outcome request.Outcome, res mcp.Result, err error) *request.Call {
	return &request.Call{
		ID: "0d4c8f6e-8a5b-4c1e-9f2a-3b7d6e5f4a10", SessionID: "SESSION1",
		Facts:           request.Facts{JSONRPCID: "7", ClientIP: "127.0.0.1", UserID: "alice", Transport: request.TransportHTTP},
		ProtocolVersion: "2025-11-25", Method: "tools/call", Capability: "demo_search",
		OriginalName: "search", Backend: "demo", Start: start, Duration: 42500 * time.Microsecond,
		Outcome: outcome, Result: res, Err: err,
	}
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestEventGolden pins the event's shape: field names, nesting, types.
func TestEventGolden(t *testing.T) {
	cases := map[string]*request.Call{
		"success":    call(request.OutcomeSuccess, &mcp.CallToolResult{}, nil),
		"tool_error": call(request.OutcomeToolError, &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "no such user"}}}, nil),
		"rpc_error":  call(request.OutcomeRPCError, nil, &request.Error{Outcome: request.OutcomeRPCError, Wire: &jsonrpc.Error{Code: -32001, Message: "boom"}}),
	}
	denied := call(request.OutcomeDenied, nil, &request.Error{Outcome: request.OutcomeDenied, Wire: &jsonrpc.Error{Code: request.CodeUnauthorized, Message: "unauthorized"}})
	denied.UserID, denied.Backend, denied.OriginalName = "", "", ""
	cases["unauthorized"] = denied
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e := FromCall(c, "")
			if !uuidV4.MatchString(e.EventID) {
				t.Errorf("event_id %q is not a UUID v4", e.EventID)
			}
			e.EventID = "a1b2c3d4-e5f6-4890-abcd-ef1234567890"
			var out map[string]any
			b := e.Marshal()
			if err := json.Unmarshal(b, &out); err != nil {
				t.Fatal(err)
			}
			pretty, _ := json.MarshalIndent(out, "", "  ")
			golden := "testdata/" + name + ".golden.json"
			if *update {
				os.WriteFile(golden, append(pretty, '\n'), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if string(append(pretty, '\n')) != string(want) {
				t.Errorf("event differs from %s:\n%s", golden, pretty)
			}
		})
	}
	if ts := Timestamp(start); ts != "2026-02-23T12:34:56.789000+00:00" {
		t.Errorf("timestamp %s", ts)
	}
}

// fakeSink is an in-memory sink for unit tests: it can crash (end the
// current Conn) and acknowledge lazily like a sink with timed fsync.
type fakeSink struct {
	mu      sync.Mutex
	written map[uint64][]byte // seq -> event, what is durable
	order   []uint64
	conn    *fakeConn
	up      bool
	failN   int // fail this many writes, then crash the conn
	lazy    bool
	writes  int // Write calls
	flushes int // Flush calls
}

type fakeConn struct {
	s        *fakeSink
	done     chan struct{}
	unsynced uint64
}

func newFakeSink() *fakeSink { return &fakeSink{written: map[uint64][]byte{}, up: true} }

func (s *fakeSink) Name() string { return "fake.sink" }

func (s *fakeSink) Connect(ctx context.Context) (Conn, error) {
	for {
		s.mu.Lock()
		if s.up {
			s.conn = &fakeConn{s: s, done: make(chan struct{})}
			c := s.conn
			s.mu.Unlock()
			return c, nil
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (s *fakeSink) crash() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		select {
		case <-s.conn.done:
		default:
			close(s.conn.done)
		}
	}
}

func (s *fakeSink) setUp(v bool) {
	s.mu.Lock()
	s.up = v
	s.mu.Unlock()
	if !v {
		s.crash()
	}
}

func (c *fakeConn) Write(_ context.Context, _ string, batch []Record) (uint64, error) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	select {
	case <-c.done:
		return 0, errGone
	default:
	}
	if s.failN > 0 {
		s.failN--
		close(c.done)
		return 0, errors.New("sink crashed")
	}
	var acked uint64
	for _, r := range batch {
		if _, dup := s.written[r.Seq]; !dup { // a real sink deduplicates too
			s.written[r.Seq] = r.JSON
			s.order = append(s.order, r.Seq)
		}
		acked = r.Seq
	}
	if s.lazy {
		c.unsynced = acked
		return 0, nil
	}
	return acked, nil
}

func (c *fakeConn) Flush(context.Context) (uint64, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.s.flushes++
	if len(c.s.order) == 0 {
		return 0, nil
	}
	return c.s.order[len(c.s.order)-1], nil
}
func (c *fakeConn) Close(ctx context.Context) (uint64, error) { return c.Flush(ctx) }
func (c *fakeConn) Done() <-chan struct{}                     { return c.done }

func (s *fakeSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.written)
}

func TestQueueDeliversEverythingOnceAcrossCrashes(t *testing.T) {
	s := newFakeSink()
	s.lazy = true // acks lag writes: crashes lose unacked events on the sink side
	q := NewQueue(s, QueueOptions{Stream: "st", Capacity: 100000, BatchSize: 50})
	const n = 5000
	for i := range n {
		if i%1000 == 0 { // a crash every 1000 events, with writes in flight
			s.mu.Lock()
			s.failN = 1
			s.mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
		if err := q.Enqueue(context.Background(), fmt.Appendf(nil, `{"n":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.count(); got != n {
		t.Errorf("sink holds %d distinct events, want %d", got, n)
	}
	st := q.Stats()
	if st.Depth != 0 || st.Failed == 0 || st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestQueueDropAndBlock(t *testing.T) {
	s := newFakeSink()
	s.setUp(false)
	drop := NewQueue(s, QueueOptions{Capacity: 3, OnFull: OnFullDrop})
	for range 5 {
		drop.Enqueue(context.Background(), []byte(`{}`))
	}
	if st := drop.Stats(); st.Depth != 3 || st.Dropped != 2 {
		t.Errorf("drop stats %+v", st)
	}
	block := NewQueue(s, QueueOptions{Capacity: 2, OnFull: OnFullBlock})
	block.Enqueue(context.Background(), []byte(`{}`))
	block.Enqueue(context.Background(), []byte(`{}`))
	released := make(chan error, 1)
	go func() { released <- block.Enqueue(context.Background(), []byte(`{"third":true}`)) }()
	select {
	case err := <-released:
		t.Fatalf("enqueue into a full blocking queue returned %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	s.setUp(true) // the sink comes up: room appears, the writer proceeds
	select {
	case err := <-released:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("blocked enqueue never released")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := block.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := drop.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s.count() != 3 { // the two queues share seq numbers 1..3 in the fake
		t.Logf("sink holds %d", s.count())
	}
	// A request that gives up while waiting is counted as a drop.
	s.setUp(false)
	full := NewQueue(s, QueueOptions{Capacity: 1})
	full.Enqueue(context.Background(), []byte(`{}`))
	wctx, wcancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer wcancel()
	if err := full.Enqueue(wctx, []byte(`{}`)); !errors.Is(err, ErrDropped) || full.Stats().Dropped != 1 {
		t.Errorf("abandoned wait: %v %+v", err, full.Stats())
	}
	sctx, scancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer scancel()
	if err := full.Close(sctx); err == nil {
		t.Error("closing with an unreachable sink reported no loss")
	}
}

func TestGateFailsClosed(t *testing.T) {
	s := newFakeSink()
	s.setUp(false)
	q := NewQueue(s, QueueOptions{Required: true})
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s.setUp(true)
		q.Close(ctx)
	}()
	p := NewPipeline([]*Queue{q}, Options{})
	reached := false
	chain := request.NewChain(func(context.Context, *request.Call) (mcp.Result, error) {
		reached = true
		return &mcp.CallToolResult{}, nil
	}, []request.Observer{p.Observer()}, nil, p.Gate())
	c := &request.Call{Method: "tools/call", Capability: "x", Params: &mcp.CallToolParamsRaw{Name: "x"}}
	_, err := chain.Run(context.Background(), c)
	if reached || c.Outcome != request.OutcomeAuditUnavailable || err == nil {
		t.Fatalf("required sink down: reached %v outcome %v err %v", reached, c.Outcome, err)
	}
	// Lists are not audited and pass.
	if _, err := chain.Run(context.Background(), &request.Call{Method: "tools/list"}); err != nil {
		t.Errorf("tools/list refused: %v", err)
	}
	s.setUp(true)
	deadline := time.Now().Add(5 * time.Second)
	for ok, _ := p.Accepting(); !ok; ok, _ = p.Accepting() {
		if time.Now().After(deadline) {
			t.Fatal("sink never became accepting")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := chain.Run(context.Background(), &request.Call{Method: "tools/call", Capability: "x", Params: &mcp.CallToolParamsRaw{Name: "x"}}); err != nil || !reached {
		t.Errorf("sink up: %v reached %v", err, reached)
	}
}

func TestObserverOneEventPerAuditedCall(t *testing.T) {
	s := newFakeSink()
	q := NewQueue(s, QueueOptions{})
	p := NewPipeline([]*Queue{q}, Options{RecordRequests: true})
	chain := request.NewChain(func(context.Context, *request.Call) (mcp.Result, error) {
		return &mcp.CallToolResult{}, nil
	}, []request.Observer{p.Observer()}, nil)
	chain.Run(context.Background(), &request.Call{Method: "tools/call", Capability: "x", Params: &mcp.CallToolParamsRaw{Name: "x"}})
	chain.Run(context.Background(), &request.Call{Method: "tools/list"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	q.Close(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.written) != 2 {
		t.Fatalf("%d records, want request + operation", len(s.written))
	}
	var req, op Event
	json.Unmarshal(s.written[1], &req)
	json.Unmarshal(s.written[2], &op)
	if req.EventType != TypeRequest || op.EventType != TypeOperation || req.EventID != op.EventID {
		t.Errorf("request %+v operation %+v", req, op)
	}
}

// TestPipelineRedactsRecords: an error a backend returns that carries a
// secret reaches the sinks redacted, and the record stays valid JSON.
func TestPipelineRedactsRecords(t *testing.T) {
	const secret = `backend-secret-"Tq8"-ü`
	secrets := logging.NewSecrets(secret)
	s := newFakeSink()
	q := NewQueue(s, QueueOptions{})
	var mirrored []byte
	p := NewPipeline([]*Queue{q}, Options{Redact: secrets.Redact, Mirror: func(b []byte) { mirrored = b }})
	chain := request.NewChain(func(context.Context, *request.Call) (mcp.Result, error) {
		return nil, fmt.Errorf("upstream said: token %s rejected", secret)
	}, []request.Observer{p.Observer()}, nil)
	chain.Run(context.Background(), &request.Call{Method: "tools/call", Capability: "x", Params: &mcp.CallToolParamsRaw{Name: "x"}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	q.Close(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.written) != 1 {
		t.Fatalf("%d records", len(s.written))
	}
	for _, rec := range [][]byte{s.written[1], mirrored} {
		var e Event
		if err := json.Unmarshal(rec, &e); err != nil {
			t.Fatalf("record is not JSON: %v: %s", err, rec)
		}
		if e.Outcome.Error == nil || !strings.Contains(*e.Outcome.Error, "[REDACTED]") || strings.Contains(string(rec), "Tq8") {
			t.Errorf("outcome.error not redacted: %s", rec)
		}
	}
}

// TestAckBeforeReply: with ack_before_reply, an audited call is answered
// only once its event is durable in the sink; without it, at once; and a
// sink that cannot take the event within its call timeout lets the call
// answer and counts the miss.
func TestAckBeforeReply(t *testing.T) {
	run := func(q *Queue) <-chan struct{} {
		p := NewPipeline([]*Queue{q}, Options{})
		chain := request.NewChain(func(context.Context, *request.Call) (mcp.Result, error) {
			return &mcp.CallToolResult{}, nil
		}, []request.Observer{p.Observer()}, nil)
		done := make(chan struct{})
		go func() {
			chain.Run(context.Background(), &request.Call{Method: "tools/call", Capability: "x", Params: &mcp.CallToolParamsRaw{Name: "x"}})
			close(done)
		}()
		return done
	}
	closeQueue := func(q *Queue) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		q.Close(ctx)
	}

	t.Run("waits for the acknowledgement", func(t *testing.T) {
		s := newFakeSink()
		s.setUp(false)
		q := NewQueue(s, QueueOptions{AckBeforeReply: true, CallTimeout: time.Minute})
		defer closeQueue(q)
		done := run(q)
		select {
		case <-done:
			t.Fatal("the call was answered while its event was not durable")
		case <-time.After(200 * time.Millisecond):
		}
		s.setUp(true)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the call was not answered after the sink acknowledged its event")
		}
		if s.count() != 1 {
			t.Fatalf("answered with %d durable events, want 1", s.count())
		}
	})

	t.Run("background delivery does not wait", func(t *testing.T) {
		s := newFakeSink()
		s.setUp(false)
		q := NewQueue(s, QueueOptions{CallTimeout: time.Minute})
		defer closeQueue(q)
		select {
		case <-run(q):
		case <-time.After(10 * time.Second):
			t.Fatal("without ack_before_reply the call waited for the sink")
		}
		if st := q.Stats(); st.Depth != 1 || st.AckTimeouts != 0 {
			t.Errorf("stats %+v, want the event queued and no ack timeout", st)
		}
	})

	t.Run("a sink too slow is counted, the call still answered", func(t *testing.T) {
		s := newFakeSink()
		s.setUp(false)
		q := NewQueue(s, QueueOptions{AckBeforeReply: true, CallTimeout: 150 * time.Millisecond})
		defer closeQueue(q)
		select {
		case <-run(q):
		case <-time.After(10 * time.Second):
			t.Fatal("the wait was not bounded by the call timeout")
		}
		if st := q.Stats(); st.AckTimeouts != 1 || !st.AckBeforeReply {
			t.Errorf("stats %+v, want one ack timeout", st)
		}
	})
}

func (s *fakeSink) calls() (writes, flushes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes, s.flushes
}

// TestQueueBatchesATrickle: events that trickle in (one every 5ms) reach
// the sink in few writes, not one per event or per 10ms: every write is a
// plugin call, which costs more than the events in it.
func TestQueueBatchesATrickle(t *testing.T) {
	s := newFakeSink()
	q := NewQueue(s, QueueOptions{Stream: "st"})
	defer q.Close(context.Background())
	const n = 16
	for i := range n {
		if err := q.Enqueue(context.Background(), fmt.Appendf(nil, `{"n":%d}`, i)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	waitFor(t, func() bool { return s.count() == n })
	// A stall of the machine between two events can split the trickle
	// once more; at one write per 10ms there would be about eight.
	if w, _ := s.calls(); w > 3 {
		t.Errorf("%d events arriving over %v took %d writes, want at most 3", n, n*5*time.Millisecond, w)
	}
}

// TestQueueFlushesOnlyWhenIdle: while writes go on, the queue does not
// flush a sink whose acknowledgements lag (timed fsync), since every flush
// forces a sync; once writes stop it flushes, and the acknowledgements
// catch up.
func TestQueueFlushesOnlyWhenIdle(t *testing.T) {
	s := newFakeSink()
	s.lazy = true
	q := NewQueue(s, QueueOptions{Stream: "st", Linger: -1})
	defer q.Close(context.Background())
	start := time.Now()
	for i := 0; time.Since(start) < 1200*time.Millisecond; i++ {
		if err := q.Enqueue(context.Background(), fmt.Appendf(nil, `{"n":%d}`, i)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A stall longer than a tick between two events may count as idle
	// once; flushing on every tick would be four or more.
	if _, f := s.calls(); f > 1 {
		t.Errorf("%d flushes while events kept coming for %v, want at most 1", f, time.Since(start).Round(time.Millisecond))
	}
	waitFor(t, func() bool { return q.Depth() == 0 })
}

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
