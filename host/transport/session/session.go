// Package session keeps the stateful client sessions opened through the
// /mcp handler (host/transport): who opened each, its idle clock
// (server.session_timeout, kept here because the SDK's own clock cannot
// see the calls the transport's lean path serves), the lean calls in
// flight with their response streams, and the requests sent on those
// streams awaiting the client's answer.
package session

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/request"
	"github.com/argusmcp/argus/host/revision"
)

// IDPrefix starts the ids of the requests Argus sends on lean
// streams; the SDK numbers its own.
const IDPrefix = "argus-lean-"

var ids atomic.Uint64

// Table knows the stateful sessions the SDK opened through this
// handler: who opened each (the lean path serves a session only to that
// user, as the SDK does), the lean calls in flight and the requests sent on
// their streams. It also closes a session idle for session_timeout, with
// the SDK's semantics (the clock stops while a POST is in progress), since
// the SDK's own clock does not see the requests the lean path serves.
type Table struct {
	timeout time.Duration
	mu      sync.Mutex
	m       map[string]*Entry
}

// Entry is one session of the table.
type Entry struct {
	ss      *mcp.ServerSession
	user    string
	timeout time.Duration

	mu      sync.Mutex
	closed  bool
	refs    int // POSTs in progress
	timer   *time.Timer
	calls   map[string]context.CancelFunc // lean calls in flight, by CallKey
	sdk     map[string]int                // requests handed to the SDK and not yet answered, by CallKey
	waiting map[string]chan Reply         // requests sent on lean streams, by id
}

// Reply is the client's answer to a request sent on a lean stream.
type Reply struct {
	Result json.RawMessage
	Err    error // the client's JSON-RPC error (*jsonrpc.Error), or why there is no answer
}

// NewTable returns an empty table whose sessions close after timeout
// without a request (0: never).
func NewTable(timeout time.Duration) *Table {
	return &Table{timeout: timeout, m: map[string]*Entry{}}
}

// Add registers the session the SDK just opened for user, until it
// closes; its idle clock starts now. onClose, if set, runs once the
// session has closed and left the table (one goroutine waits for both,
// not one per purpose: every open session holds it).
func (t *Table) Add(ss *mcp.ServerSession, user string, onClose func()) {
	id := ss.ID()
	e := &Entry{ss: ss, user: user, timeout: t.timeout, calls: map[string]context.CancelFunc{}, sdk: map[string]int{}, waiting: map[string]chan Reply{}}
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
		if onClose != nil {
			onClose()
		}
	}()
}

// Get is the open session id, or nil.
func (t *Table) Get(id string) *Entry {
	if id == "" {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[id]
}

// Session is the SDK's session.
func (e *Entry) Session() *mcp.ServerSession { return e.ss }

// User is the user who opened the session ("" for an anonymous client).
func (e *Entry) User() string { return e.user }

// close ends what the closed session still has going: its lean calls are
// cancelled, its requests answered with an error.
func (e *Entry) close() {
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
		ch <- Reply{Err: ErrClosed}
		delete(e.waiting, id)
	}
}

// startPOST stops the idle clock while a POST of the session is served.
func (e *Entry) StartPOST() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.refs == 0 && e.timer != nil {
		e.timer.Stop()
	}
	e.refs++
}

// endPOST restarts the idle clock when no POST of the session is left.
func (e *Entry) EndPOST() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.refs--
	if e.refs == 0 && e.timer != nil && !e.closed {
		e.timer.Reset(e.timeout)
	}
}

// ErrDuplicateID is BeginCall's error for an id in flight already, which
// the SDK refuses (HTTP 400, invalid request).
var ErrDuplicateID = errors.New("duplicate in-flight request ID")

// ErrClosed is BeginCall's error once the session has closed.
var ErrClosed = errors.New("the client session closed")

// ErrSDKCall is BeginCall's error for an id the SDK is serving a request
// of: the SDK judges the new one (and refuses it as a duplicate).
var ErrSDKCall = errors.New("a request of this id is with the SDK")

// BeginCall registers a lean call by its key (CallKey): ErrDuplicateID if
// a lean call with that id is in flight already, ErrSDKCall if a request
// with that id is with the SDK (BeginSDK), ErrClosed if the session has
// closed.
func (e *Entry) BeginCall(id string, cancel context.CancelFunc) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	if _, dup := e.calls[id]; dup {
		return ErrDuplicateID
	}
	if e.sdk[id] > 0 {
		return ErrSDKCall
	}
	e.calls[id] = cancel
	return nil
}

// BeginSDK registers a request of the session, by its key (CallKey), that
// goes to the SDK, until EndSDK: ErrDuplicateID if a lean call with that
// id is in flight. The SDK and the lean path keep a table of ids each;
// with both consulted under one lock, an id is in flight on one path at
// most, as it would be were the SDK serving both, and
// notifications/cancelled names one request.
func (e *Entry) BeginSDK(id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, dup := e.calls[id]; dup {
		return ErrDuplicateID
	}
	e.sdk[id]++
	return nil
}

// EndSDK is the end of a request BeginSDK registered: the SDK has
// answered it (or refused it).
func (e *Entry) EndSDK(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sdk[id]--; e.sdk[id] <= 0 {
		delete(e.sdk, id)
	}
}

func (e *Entry) EndCall(id string) {
	e.mu.Lock()
	delete(e.calls, id)
	e.mu.Unlock()
}

// cancelCall cancels the lean call of key id (CallKey), for
// notifications/cancelled; false if there is none.
func (e *Entry) CancelCall(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	cancel, ok := e.calls[id]
	if ok {
		cancel()
	}
	return ok
}

// CallKey is the key of a lean call in the session's table, from its
// JSON-RPC id (a request's id, or the requestId of notifications/cancelled):
// ids the SDK takes for the same have the same key, as the SDK compares them
// (a string by its value however escaped, a number by its integer part
// however written). ok is false for a value that is no id.
func CallKey(raw json.RawMessage) (key string, ok bool) {
	if len(raw) == 0 {
		return "", false
	}
	switch c := raw[0]; {
	case c == '"':
		if n := len(raw); n >= 2 && raw[n-1] == '"' && bytes.IndexByte(raw, '\\') < 0 {
			return "s" + string(raw[1:n-1]), true
		}
		var s string
		if request.Decode(raw, &s) != nil {
			return "", false
		}
		return "s" + s, true
	case c == '-' || c >= '0' && c <= '9':
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			return "", false
		}
		return "n" + strconv.FormatInt(int64(f), 10), true
	}
	return "", false
}

// deliver hands the client's answer to a request sent on a lean stream to
// its waiter; false if no request of that id is waiting.
func (e *Entry) Deliver(id string, r Reply) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch, ok := e.waiting[id]
	if ok {
		delete(e.waiting, id)
		ch <- r
	}
	return ok
}

// Eligible reports whether the request's headers are ones the SDK
// would accept for a POST to an existing session, in the form the lean
// path serves: anything else is left to the SDK to judge.
func Eligible(r *http.Request, ss *mcp.ServerSession) bool {
	if !eligibleHeaders(r) {
		return false
	}
	ip := ss.InitializeParams()
	return ip != nil && r.Header.Get("MCP-Protocol-Version") == ip.ProtocolVersion
}

// EligibleStateless is Eligible for a request of method of the
// stateless revision, which has no session: its MCP-Protocol-Version
// must be that revision and its Mcp-Method header the method, as the
// SDK requires of it (the parameters' _meta and the Mcp-Name header are
// the gateway's to check, once it has read them).
func EligibleStateless(r *http.Request, method string) bool {
	return r.Header.Get("MCP-Protocol-Version") == revision.Stateless &&
		r.Header.Get("Mcp-Method") == method && eligibleHeaders(r)
}

// eligibleHeaders reports whether the request's Host, Content-Type,
// Accept and Last-Event-ID headers are ones the SDK takes for a POST.
func eligibleHeaders(r *http.Request) bool {
	// The SDK's DNS rebinding protection: on a loopback listener, a Host
	// that is not loopback is refused (403).
	if !loopback(r.Host) {
		if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && la != nil && loopbackAddr(la) {
			return false
		}
	}
	// The media type as the SDK reads it; parsed only when it is not the
	// plain one every client sends (parsing allocates).
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return false
		}
	}
	if len(r.Header.Values("Last-Event-ID")) > 0 {
		return false
	}
	jsonOK, streamOK := false, false
	for _, v := range r.Header.Values("Accept") {
		for more := true; more; {
			var tok string
			tok, v, more = strings.Cut(v, ",") // as strings.Split(v, ","), without the slice
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
	return jsonOK && streamOK
}

// loopback reports whether addr (a host, or host:port) is localhost or a
// loopback address, as the SDK's DNS rebinding protection decides it.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = strings.Trim(addr, "[]")
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// loopbackAddr is loopback for a listener's address, without formatting
// a TCP one.
func loopbackAddr(a net.Addr) bool {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.IsLoopback()
	}
	return loopback(a.String())
}

// Stream is a lean call's response (request.Stream): a JSON body, or
// an SSE stream from the first message sent before the result.
type Stream struct {
	entry *Entry // nil: a call of the stateless revision, which has no session

	mu   sync.Mutex
	w    http.ResponseWriter
	sse  bool // headers sent, as an SSE stream
	done bool // the result is written; nothing more may be
}

// NewStream returns the response stream, on w, of a lean call of the
// session e, or (e nil) of a call of the stateless revision: such a call
// has no session to answer requests sent on it, and an error answer that
// is not preceded by a message goes out with the HTTP status SEP-2575
// gives its code, as the SDK's stateless handler writes it (404 for
// method not found; 400 for invalid params, an unsupported protocol
// version and missing client capabilities).
func NewStream(w http.ResponseWriter, e *Entry) *Stream { return &Stream{w: w, entry: e} }

// ErrNoSession is returned for a request sent on the stream of a call
// without a session (the stateless revision): its client is asked for
// input in the call's result instead (SEP-2322).
var ErrNoSession = errors.New("the call has no session to send requests on")

// ErrStreamClosed is returned for a message sent after the call's result.
var ErrStreamClosed = errors.New("the call's response stream is closed")

func (s *Stream) write(msg []byte, final bool) error { return s.writeStatus(msg, final, http.StatusOK) }

// writeStatus is write with the HTTP status of a JSON body.
func (s *Stream) writeStatus(msg []byte, final bool, status int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return ErrStreamClosed
	}
	h := s.w.Header()
	h.Set("Cache-Control", "no-cache, no-transform")
	if final && !s.sse {
		s.done = true
		h.Set("Content-Type", "application/json")
		// Declared, so that a Flush before the handler returns (Stream.Flush)
		// sends the body as it is rather than chunked.
		h.Set("Content-Length", strconv.Itoa(len(msg)))
		s.w.WriteHeader(status)
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

// Flush sends what is written so far to the client now, rather than when
// the handler returns.
func (s *Stream) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = http.NewResponseController(s.w).Flush()
}

// Notify implements request.Stream.
func (s *Stream) Notify(_ context.Context, method string, params any) error {
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
func (s *Stream) Call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	id := IDPrefix + strconv.FormatUint(ids.Add(1), 10)
	b, err := json.Marshal(struct {
		JSONRPC string `json:"jsonrpc"`
		ID      string `json:"id"`
		Method  string `json:"method"`
		Params  any    `json:"params,omitempty"`
	}{"2.0", id, method, params})
	if err != nil {
		return nil, err
	}
	e := s.entry
	if e == nil {
		return nil, ErrNoSession
	}
	ch := make(chan Reply, 1)
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, ErrClosed
	}
	e.waiting[id] = ch
	e.mu.Unlock()
	if err := s.write(b, false); err != nil {
		e.Deliver(id, Reply{}) // unregister
		return nil, err
	}
	select {
	case r := <-ch:
		return r.Result, r.Err
	case <-ctx.Done():
		if e.Deliver(id, Reply{}) {
			_ = s.Notify(context.WithoutCancel(ctx), "notifications/cancelled", map[string]any{"requestId": id})
		}
		return nil, ctx.Err()
	}
}

// RawResult is a result that holds its JSON as it came from the backend
// (backend.RawToolResult): valid JSON, already checked by whoever built
// it, which Finish writes as it is.
type RawResult interface {
	mcp.Result
	RawJSON() json.RawMessage
}

// Finish writes the call's JSON-RPC response.
func (s *Stream) Finish(id json.RawMessage, res mcp.Result, err error) {
	if b, ok := rawResponse(id, res, err); ok {
		_ = s.write(b, true)
		return
	}
	out := struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Result  any             `json:"result,omitempty"`
		Error   *jsonrpc.Error  `json:"error,omitempty"`
	}{JSONRPC: "2.0", ID: id}
	status := http.StatusOK
	if err != nil {
		var we *jsonrpc.Error
		if !errors.As(err, &we) {
			we = &jsonrpc.Error{Code: request.CodeInternalError, Message: err.Error()}
		}
		out.Error = we
		if s.entry == nil {
			status = errorStatus(we.Code)
		}
	} else if out.Result = res; request.IsNil(res) {
		out.Result = json.RawMessage("{}")
	}
	b, mErr := json.Marshal(out)
	if mErr != nil {
		out.Result, out.Error = nil, &jsonrpc.Error{Code: request.CodeInternalError, Message: "argus: cannot encode the result: " + mErr.Error()}
		b, _ = json.Marshal(out)
	}
	_ = s.writeStatus(b, true, status)
}

// errorStatus is the HTTP status of a stateless-revision answer with an
// error of code (SEP-2575).
func errorStatus(code int64) int {
	switch code {
	case jsonrpc.CodeMethodNotFound:
		return http.StatusNotFound
	case jsonrpc.CodeInvalidParams, mcp.CodeUnsupportedProtocolVersion, mcp.CodeMissingRequiredClientCapabilities:
		return http.StatusBadRequest
	}
	return http.StatusOK
}

// rawResponse is the response to a call answered with a RawResult, put
// together without encoding/json, which would scan the result once more
// (it checks and compacts what a json.Marshaler returns); false for any
// other answer, and for a result or id spread over lines, which an SSE
// data field could not carry and encoding/json would compact.
func rawResponse(id json.RawMessage, res mcp.Result, err error) ([]byte, bool) {
	r, ok := res.(RawResult)
	if !ok || err != nil || request.IsNil(res) {
		return nil, false
	}
	raw := r.RawJSON()
	if len(raw) == 0 || len(id) == 0 || bytes.ContainsAny(raw, "\r\n") || bytes.ContainsAny(id, "\r\n") {
		return nil, false
	}
	const head, mid = `{"jsonrpc":"2.0","id":`, `,"result":`
	b := make([]byte, 0, len(head)+len(id)+len(mid)+len(raw)+1)
	b = append(b, head...)
	b = append(b, id...)
	b = append(b, mid...)
	b = append(b, raw...)
	return append(b, '}'), true
}
