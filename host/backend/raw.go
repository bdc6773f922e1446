package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	segjson "github.com/segmentio/encoding/json"

	"github.com/argusmcp/argus/host/request"
)

// rawIDPrefix starts the ids of the requests Call sends; the SDK's client
// numbers its own.
const rawIDPrefix = "argus-raw-"

var rawIDs atomic.Uint64

// rawCalls are the requests Call has in flight on one connection: their
// answers are taken off the wire before the SDK's client sees them.
type rawCalls struct {
	mu      sync.Mutex
	conn    mcp.Connection // set once the transport connected
	waiting map[string]chan *jsonrpc.Response
	closed  bool
	// taken counts the messages read from the connection (observedConn),
	// read those the SDK's session is done with, for answerFilter's order.
	taken, read atomic.Uint64
	// http, for a streamable-HTTP backend, sends Call's requests itself.
	http *httpCalls
	// stdin, for a stdio backend, is where Call writes its requests:
	// beside the SDK's connection, whose writes take the same file's
	// write lock, so a request never interleaves with one of the SDK's.
	stdin io.Writer
}

// deliver hands resp to the Call waiting for it; false if it is not the
// answer to one (the SDK's client reads it then).
func (r *rawCalls) deliver(resp *jsonrpc.Response) bool {
	id, ok := resp.ID.Raw().(string)
	if !ok || !strings.HasPrefix(id, rawIDPrefix) {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ch, ok := r.waiting[id]
	if ok {
		delete(r.waiting, id)
		ch <- resp
	}
	return ok
}

// close fails the calls still waiting: the connection is gone.
func (r *rawCalls) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for id, ch := range r.waiting {
		delete(r.waiting, id)
		close(ch)
	}
}

var errConnClosed = errors.New("the backend connection closed")

// closed is Call's error once the connection is gone: errConnClosed, with
// why the session ended when it says (as the SDK's client reports it).
func (c *Conn) closed() error {
	select {
	case <-c.done:
		if c.err != nil {
			return fmt.Errorf("%w: %w", errConnClosed, c.err)
		}
	default:
	}
	return errConnClosed
}

// cancelNotifyTimeout bounds the sending of notifications/cancelled for a
// Call whose context ended: the SDK client's own bound.
const cancelNotifyTimeout = 5 * time.Second

// Call sends one request with already encoded params (one line of JSON,
// as json.Marshal writes it) over the backend connection, beside the
// SDK's client session, and returns the backend's
// result as it came: no decoding into the SDK's types, which the router
// needs only when it has to look inside. A JSON-RPC error from the backend
// is returned as a *jsonrpc.Error; when ctx ends first, the backend is
// sent notifications/cancelled, as the SDK's client does.
func (c *Conn) Call(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	r := c.raw
	id := rawIDPrefix + strconv.FormatUint(rawIDs.Add(1), 10)
	ch := make(chan *jsonrpc.Response, 1)
	r.mu.Lock()
	if r.conn == nil || r.closed {
		r.mu.Unlock()
		return nil, c.closed()
	}
	conn, stdin := r.conn, r.stdin
	r.waiting[id] = ch
	r.mu.Unlock()
	forget := func() {
		r.mu.Lock()
		delete(r.waiting, id)
		r.mu.Unlock()
	}
	// As the SDK's client does, the notification is best effort, sent off
	// the caller's path and given up after cancelNotifyTimeout: a backend
	// that does not take it (an HTTP server that never answers its POST, a
	// child that stopped reading its stdin) cannot keep the caller from
	// its answer.
	cancelled := func() {
		p, _ := json.Marshal(map[string]any{"requestId": id, "reason": ctx.Err().Error()})
		go func() {
			nctx, stop := context.WithTimeout(context.WithoutCancel(ctx), cancelNotifyTimeout)
			defer stop()
			_ = conn.Write(nctx, &jsonrpc.Request{Method: "notifications/cancelled", Params: p})
		}()
	}
	var resp *jsonrpc.Response
	var err error
	switch {
	case r.http != nil:
		resp, err = r.http.post(ctx, conn.SessionID(), id, method, appendRequest(nil, id, method, params))
	case stdin != nil:
		if err = ctx.Err(); err == nil { // as the SDK's connection refuses a write
			_, err = stdin.Write(append(appendRequest(make([]byte, 0, 64+len(params)), id, method, params), '\n'))
		}
	default:
		jid, _ := jsonrpc.MakeID(id)
		err = conn.Write(ctx, &jsonrpc.Request{ID: jid, Method: method, Params: params})
	}
	if err != nil {
		forget()
		if ctx.Err() != nil {
			cancelled()
			return nil, ctx.Err()
		}
		if r.http != nil && r.http.closed.Err() != nil {
			<-c.done // the session ends right after its connection closed
			return nil, c.closed()
		}
		return nil, err
	}
	if resp != nil {
		forget() // answered on the POST's response, not through deliver
		return answer(resp)
	}
	select {
	case resp, ok := <-ch:
		if !ok {
			<-c.done // closes right after
			return nil, c.closed()
		}
		return answer(resp)
	case <-c.done:
		forget()
		return nil, c.closed()
	case <-ctx.Done():
		forget()
		cancelled()
		return nil, ctx.Err()
	}
}

// answer is Call's outcome for the backend's answer.
func answer(resp *jsonrpc.Response) (json.RawMessage, error) {
	if resp.Error != nil {
		return nil, resp.Error
	}
	return resp.Result, nil
}

// RawToolResult is a tools/call result passed on as the backend wrote it
// (Conn.CallTool): an mcp.Result whose JSON is the backend's bytes. The
// embedded CallToolResult is empty but for what the router's observers
// read (IsError, always false here).
type RawToolResult struct {
	*mcp.CallToolResult
	Raw json.RawMessage
}

// MarshalJSON implements json.Marshaler: the backend's result, unchanged.
func (r *RawToolResult) MarshalJSON() ([]byte, error) { return r.Raw, nil }

// RawJSON is the backend's result (session.RawResult), which the
// transport writes without encoding it again.
func (r *RawToolResult) RawJSON() json.RawMessage { return r.Raw }

// WithRaw is the result with raw as its JSON (revision.RawTool: the
// backend's result shaped for a client of a later revision).
func (r *RawToolResult) WithRaw(raw json.RawMessage) mcp.Result {
	return &RawToolResult{CallToolResult: r.CallToolResult, Raw: raw}
}

// CallTool forwards a tools/call to a backend of a revision before
// 2026-07-28 with Call, skipping the SDK client's decoding and the SDK
// server's encoding of the result. A result with nothing but text
// content, structuredContent and isError false is passed on as
// the backend's bytes (a RawToolResult), since nothing between here and
// the client changes such a result; any other (an error result, _meta,
// fields of a later revision) is decoded as the SDK's client would.
func (c *Conn) CallTool(ctx context.Context, p *mcp.CallToolParams) (mcp.Result, error) {
	params, err := toolCallParams(p)
	if err != nil {
		return nil, err
	}
	raw, err := c.Call(ctx, "tools/call", params)
	if err != nil {
		return nil, err
	}
	if passThrough(raw) {
		return &RawToolResult{CallToolResult: &mcp.CallToolResult{}, Raw: raw}, nil
	}
	var res mcp.CallToolResult
	if err := request.Decode(raw, &res); err != nil {
		return nil, fmt.Errorf("decoding the backend's tools/call result: %w", err)
	}
	return &res, nil
}

// passThrough reports whether a tools/call result can go to the client as
// the backend wrote it (see CallTool).
func passThrough(raw json.RawMessage) bool {
	var top struct {
		Content           json.RawMessage `json:"content"`
		StructuredContent json.RawMessage `json:"structuredContent"`
		IsError           bool            `json:"isError"`
	}
	const strict = segjson.DisallowUnknownFields | segjson.DontMatchCaseInsensitiveStructFields | segjson.DontCopyRawMessage
	if rest, err := segjson.Parse(raw, &top, strict); err != nil || len(strings.TrimSpace(string(rest))) > 0 ||
		top.IsError || len(top.Content) == 0 || top.Content[0] != '[' {
		return false
	}
	// Only text blocks with nothing but their text pass: the SDK's client
	// checks what a block holds (a text must be a string, image data
	// base64, a resource link must name its URI ...) and refuses the
	// result otherwise, and the client must get that refusal here too.
	// Anything else is decoded, and so checked, as the SDK's client would.
	// The text is kept raw and its type and the block's read in place (no
	// copies): a JSON string is what the SDK's client takes as a text, and
	// Parse has checked that it is well-formed (null, a number, an absent
	// text do not pass).
	var blocks []struct {
		Type string          `json:"type"`
		Text json.RawMessage `json:"text"`
	}
	if _, err := segjson.Parse(top.Content, &blocks, strict|segjson.ZeroCopy); err != nil {
		return false
	}
	for _, b := range blocks {
		if b.Type != "text" || len(b.Text) == 0 || b.Text[0] != '"' {
			return false
		}
	}
	return true
}

// RawCalls reports whether Call and CallTool may be used on this
// connection: its backend speaks a revision before 2026-07-28, whose
// requests need nothing the SDK's client adds to them.
func (c *Conn) RawCalls() bool {
	v := c.ProtocolVersion()
	return v != "" && v < statelessRevision
}

// GetPrompt is the SDK client's GetPrompt for a backend of a revision
// before 2026-07-28 (RawCalls), sent with Call: the answer is taken off
// the wire by id and decoded once, not read by the SDK's client.
func (c *Conn) GetPrompt(ctx context.Context, p *mcp.GetPromptParams) (*mcp.GetPromptResult, error) {
	return callDecoded[mcp.GetPromptResult](ctx, c, "prompts/get", p)
}

// ReadResource is GetPrompt for resources/read.
func (c *Conn) ReadResource(ctx context.Context, p *mcp.ReadResourceParams) (*mcp.ReadResourceResult, error) {
	return callDecoded[mcp.ReadResourceResult](ctx, c, "resources/read", p)
}

// callDecoded sends method with params p over Call and decodes the
// result into an R as the SDK's client would.
func callDecoded[R any](ctx context.Context, c *Conn, method string, p mcp.Params) (*R, error) {
	params, err := json.Marshal(p) // one line: encoding/json writes no line break
	if err != nil {
		return nil, err
	}
	raw, err := c.Call(ctx, method, params)
	if err != nil {
		return nil, err
	}
	var res R
	if err := request.Decode(raw, &res); err != nil {
		return nil, fmt.Errorf("decoding the backend's %s result: %w", method, err)
	}
	return &res, nil
}
