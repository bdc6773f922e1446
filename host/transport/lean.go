package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/request"
)

// The lean path serves tools/call, the one method clients call in a loop,
// without the SDK's streamable HTTP server: the SDK decodes every message
// several times over with a fresh 32 KiB buffer each and hands it through
// its session's goroutines and an SSE stream, which costs more than the
// rest of a proxied call together. On the lean path the transport reads
// the body once, the gateway runs the same chain (policy, quota, audit,
// telemetry, routing) with the same SDK session, and the answer goes back
// as application/json — or, if the call sends the client anything while
// it runs (progress, log messages, requests for input), as an SSE stream
// begun with that first message, as the specification allows.
//
// Everything the SDK would judge differently (a new or unknown session,
// another user's session, headers it would refuse, a batch, a request of
// the stateless revision, parameters it would not decode) goes the SDK's
// way as before: the lean path only ever serves what the SDK would have
// served, and serves it the same.

// Lean serves one tools/call of the stateful session ss on the lean path,
// with ctx carrying the request's facts and its request.Stream. It returns
// ok false, having done nothing, when the SDK should serve the request
// instead; the gateway implements it.
type Lean func(ctx context.Context, ss *mcp.ServerSession, params json.RawMessage, header http.Header) (res mcp.Result, err error, ok bool)

// leanIDPrefix starts the ids of the requests Argus sends on lean
// streams; the SDK numbers its own.
const leanIDPrefix = "argus-lean-"

var leanIDs atomic.Uint64

// sessionTable knows the stateful sessions the SDK opened through this
// handler: who opened each (the lean path serves a session only to that
// user, as the SDK does), the lean calls in flight and the requests sent on
// their streams. It also closes a session idle for session_timeout, with
// the SDK's semantics (the clock stops while a POST is in progress), since
// the SDK's own clock does not see the requests the lean path serves.
type sessionTable struct {
	timeout time.Duration
	mu      sync.Mutex
	m       map[string]*sessionEntry
}

type sessionEntry struct {
	ss   *mcp.ServerSession
	user string

	mu      sync.Mutex
	closed  bool
	refs    int // POSTs in progress
	timer   *time.Timer
	calls   map[string]context.CancelFunc // lean calls in flight, by JSON-RPC id
	waiting map[string]chan leanReply     // requests sent on lean streams, by id
}

type leanReply struct {
	result json.RawMessage
	err    error
}

func newSessionTable(timeout time.Duration) *sessionTable {
	return &sessionTable{timeout: timeout, m: map[string]*sessionEntry{}}
}

// add registers the session the SDK just opened for user, until it
// closes.
func (t *sessionTable) add(ss *mcp.ServerSession, user string) {
	id := ss.ID()
	e := &sessionEntry{ss: ss, user: user, calls: map[string]context.CancelFunc{}, waiting: map[string]chan leanReply{}}
	if t.timeout > 0 {
		e.timer = time.AfterFunc(t.timeout, func() { ss.Close() })
	}
	t.mu.Lock()
	t.m[id] = e
	t.mu.Unlock()
	go func() {
		ss.Wait()
		t.mu.Lock()
		delete(t.m, id)
		t.mu.Unlock()
		e.close()
	}()
}

func (t *sessionTable) get(id string) *sessionEntry {
	if id == "" {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[id]
}

// close ends what the closed session still has going: its lean calls are
// cancelled, its requests answered with an error.
func (e *sessionEntry) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	if e.timer != nil {
		e.timer.Stop()
	}
	for _, cancel := range e.calls {
		cancel()
	}
	for id, ch := range e.waiting {
		ch <- leanReply{err: errors.New("the client session closed")}
		delete(e.waiting, id)
	}
}

// startPOST stops the idle clock while a POST of the session is served.
func (e *sessionEntry) startPOST() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.refs == 0 && e.timer != nil {
		e.timer.Stop()
	}
	e.refs++
}

// endPOST restarts the idle clock when no POST of the session is left.
func (e *sessionEntry) endPOST(timeout time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.refs--
	if e.refs == 0 && e.timer != nil && !e.closed {
		e.timer.Reset(timeout)
	}
}

// beginCall registers a lean call by its JSON-RPC id; false if a call with
// that id is in flight already (the SDK refuses such a duplicate).
func (e *sessionEntry) beginCall(id string, cancel context.CancelFunc) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, dup := e.calls[id]; dup || e.closed {
		return false
	}
	e.calls[id] = cancel
	return true
}

func (e *sessionEntry) endCall(id string) {
	e.mu.Lock()
	delete(e.calls, id)
	e.mu.Unlock()
}

// cancelCall cancels the lean call id (notifications/cancelled); false if
// there is none.
func (e *sessionEntry) cancelCall(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	cancel, ok := e.calls[id]
	if ok {
		cancel()
	}
	return ok
}

// deliver hands the client's answer to a request sent on a lean stream to
// its waiter; false if no request of that id is waiting.
func (e *sessionEntry) deliver(id string, r leanReply) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch, ok := e.waiting[id]
	if ok {
		delete(e.waiting, id)
		ch <- r
	}
	return ok
}

// leanEligible reports whether the request's headers are ones the SDK
// would accept for a POST to an existing session, in the form the lean
// path serves: anything else is left to the SDK to judge.
func leanEligible(r *http.Request, ss *mcp.ServerSession) bool {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return false
	}
	if len(r.Header.Values("Last-Event-ID")) > 0 {
		return false
	}
	jsonOK, streamOK := false, false
	for _, v := range r.Header.Values("Accept") {
		for _, tok := range strings.Split(v, ",") {
			base, _, _ := strings.Cut(tok, ";")
			switch strings.ToLower(strings.TrimSpace(base)) {
			case "application/json", "application/*":
				jsonOK = true
			case "text/event-stream", "text/*":
				streamOK = true
			case "*/*":
				jsonOK, streamOK = true, true
			}
		}
	}
	if !jsonOK || !streamOK {
		return false
	}
	ip := ss.InitializeParams()
	return ip != nil && r.Header.Get("MCP-Protocol-Version") == ip.ProtocolVersion
}

// serveLean serves msg, a tools/call on an existing session, on the lean
// path if it can; false leaves the request to the SDK untouched.
func (h *mcpHandler) serveLean(w http.ResponseWriter, r *http.Request, msg *sniffed, facts request.Facts) bool {
	e := h.sessions.get(r.Header.Get("Mcp-Session-Id"))
	if e == nil || e.user != facts.UserID || !leanEligible(r, e.ss) {
		return false
	}
	id := string(msg.ID)
	// As on the SDK's path for a stateful session, a client that goes away
	// does not cancel its call; notifications/cancelled and the session's
	// end do.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	if !e.beginCall(id, cancel) {
		return false
	}
	defer e.endCall(id)
	st := &leanStream{w: w, entry: e}
	ctx = request.WithStream(request.WithFacts(ctx, facts), st)
	res, err, ok := h.opts.Lean(ctx, e.ss, msg.Params, r.Header)
	if !ok {
		return false
	}
	st.finish(msg.ID, res, err)
	return true
}

// interceptLean takes the client messages that belong to lean calls off
// the SDK's path: answers to requests sent on a lean stream, and
// notifications/cancelled for a lean call. It reports whether it handled
// msg (the client got 202 Accepted).
func (h *mcpHandler) interceptLean(w http.ResponseWriter, r *http.Request, msg *sniffed, body []byte, facts request.Facts) bool {
	e := h.sessions.get(r.Header.Get("Mcp-Session-Id"))
	if e == nil || e.user != facts.UserID {
		return false
	}
	switch {
	case msg.Method == "" && (msg.hasResult || msg.hasError):
		var id string
		if json.Unmarshal(msg.ID, &id) != nil || !strings.HasPrefix(id, leanIDPrefix) {
			return false
		}
		var reply struct {
			Result json.RawMessage `json:"result"`
			Error  *jsonrpc.Error  `json:"error"`
		}
		if json.Unmarshal(body, &reply) != nil {
			return false
		}
		r := leanReply{result: reply.Result}
		if reply.Error != nil {
			r.err = reply.Error
		}
		if !e.deliver(id, r) {
			return false
		}
	case msg.Method == "notifications/cancelled":
		var p struct {
			RequestID json.RawMessage `json:"requestId"`
		}
		if json.Unmarshal(msg.Params, &p) != nil || !e.cancelCall(string(p.RequestID)) {
			return false
		}
	default:
		return false
	}
	w.WriteHeader(http.StatusAccepted)
	return true
}

// leanStream is a lean call's response (request.Stream): a JSON body, or
// an SSE stream from the first message sent before the result.
type leanStream struct {
	entry *sessionEntry

	mu   sync.Mutex
	w    http.ResponseWriter
	sse  bool // headers sent, as an SSE stream
	done bool // the result is written; nothing more may be
}

var errStreamClosed = errors.New("the call's response stream is closed")

func (s *leanStream) write(msg []byte, final bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return errStreamClosed
	}
	h := s.w.Header()
	h.Set("Cache-Control", "no-cache, no-transform")
	if final && !s.sse {
		s.done = true
		h.Set("Content-Type", "application/json")
		s.w.WriteHeader(http.StatusOK)
		_, err := s.w.Write(msg)
		return err
	}
	if !s.sse {
		s.sse = true
		h.Set("Content-Type", "text/event-stream")
		h.Set("Connection", "keep-alive")
		s.w.WriteHeader(http.StatusOK)
	}
	s.done = final
	if _, err := fmt.Fprintf(s.w, "event: message\ndata: %s\n\n", msg); err != nil {
		return err
	}
	return http.NewResponseController(s.w).Flush()
}

// Notify implements request.Stream.
func (s *leanStream) Notify(_ context.Context, method string, params any) error {
	b, err := json.Marshal(struct {
		JSONRPC string `json:"jsonrpc"`
		Method  string `json:"method"`
		Params  any    `json:"params,omitempty"`
	}{"2.0", method, params})
	if err != nil {
		return err
	}
	return s.write(b, false)
}

// Call implements request.Stream.
func (s *leanStream) Call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	id := leanIDPrefix + strconv.FormatUint(leanIDs.Add(1), 10)
	b, err := json.Marshal(struct {
		JSONRPC string `json:"jsonrpc"`
		ID      string `json:"id"`
		Method  string `json:"method"`
		Params  any    `json:"params,omitempty"`
	}{"2.0", id, method, params})
	if err != nil {
		return nil, err
	}
	ch := make(chan leanReply, 1)
	e := s.entry
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, errors.New("the client session closed")
	}
	e.waiting[id] = ch
	e.mu.Unlock()
	if err := s.write(b, false); err != nil {
		e.deliver(id, leanReply{}) // unregister
		return nil, err
	}
	select {
	case r := <-ch:
		return r.result, r.err
	case <-ctx.Done():
		if e.deliver(id, leanReply{}) {
			_ = s.Notify(context.WithoutCancel(ctx), "notifications/cancelled", map[string]any{"requestId": id})
		}
		return nil, ctx.Err()
	}
}

// finish writes the call's JSON-RPC response.
func (s *leanStream) finish(id json.RawMessage, res mcp.Result, err error) {
	out := struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Result  any             `json:"result,omitempty"`
		Error   *jsonrpc.Error  `json:"error,omitempty"`
	}{JSONRPC: "2.0", ID: id}
	if err != nil {
		var we *jsonrpc.Error
		if !errors.As(err, &we) {
			we = &jsonrpc.Error{Code: request.CodeInternalError, Message: err.Error()}
		}
		out.Error = we
	} else if out.Result = res; request.IsNil(res) {
		out.Result = json.RawMessage("{}")
	}
	b, mErr := json.Marshal(out)
	if mErr != nil {
		out.Result, out.Error = nil, &jsonrpc.Error{Code: request.CodeInternalError, Message: "argus: cannot encode the result: " + mErr.Error()}
		b, _ = json.Marshal(out)
	}
	_ = s.write(b, true)
}
