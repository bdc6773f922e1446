package backend

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// httpCalls sends Conn.Call's requests to a streamable-HTTP backend as
// POSTs of its own, on the http.Client the SDK's transport uses (the same
// connection pool, configured headers and MCP-Protocol-Version), under the
// session the SDK's client established. It reads the answer off the POST's
// response itself, where the SDK's transport would decode each message
// twice more with a fresh 32 KiB decoder (the request's _meta for its
// protocol header, each event of the response) and hand the answer through
// three goroutines.
//
// What is not the plain answer to the call (a progress notification, a log
// message, a request to the client, an answer of another shape) is handed
// to the SDK's session through observedConn, in order, and the answer then
// follows the same way, so the session sees a call's stream as it would
// have. Status codes, content types, session IDs and a stream that ends
// before its answer are treated as the SDK's transport treats them (see
// post and stream).
type httpCalls struct {
	client     *http.Client
	url        string
	maxRetries int
	negotiated *atomic.Pointer[string] // the session's revision (versionTransport)
	// inject carries messages (or, to end the session, an error) to the
	// SDK's session: observedConn.Read returns them beside the SDK
	// transport's own.
	inject chan readItem
	// closed ends when the connection closes: every call's request with it.
	closed context.Context
	close  context.CancelFunc
	// direct counts the answers read plain off their POST's response,
	// handed those that went through the session.
	direct, handed atomic.Uint64
}

type readItem struct {
	msg jsonrpc.Message
	err error
}

func newHTTPCalls(client *http.Client, url string, maxRetries int, negotiated *atomic.Pointer[string]) *httpCalls {
	closed, close := context.WithCancel(context.Background())
	return &httpCalls{client: client, url: url, maxRetries: maxRetries, negotiated: negotiated,
		inject: make(chan readItem), closed: closed, close: close}
}

// maxAnswerBytes bounds one JSON answer or one event of a call's stream,
// as the SDK's client bounds an event (mcp.DefaultMaxEventSize).
const maxAnswerBytes = mcp.DefaultMaxEventSize

// Headers of the streamable HTTP transport.
const (
	sessionIDHeader   = "Mcp-Session-Id"
	lastEventIDHeader = "Last-Event-ID"
)

// errNoAnswer is a call's error when its stream ends, with nothing to
// resume it from, before its answer (the SDK's client reports the same).
var errNoAnswer = errors.New("request terminated without response")

// sending names a call in its errors ("sending \"tools/call\""), put
// together only when an error is (fmt calls String).
type sending string

func (m sending) String() string { return fmt.Sprintf("sending %q", string(m)) }

// httpCall is one request of Call and the reading of its answer.
type httpCall struct {
	*httpCalls
	ctx       context.Context
	what      sending
	sessionID string
	id        string
	// handed: something of the response went to the session, so the
	// answer follows it there.
	handed bool
	// last and delay are the response's last event ID and the delay the
	// server asked for before a resumption (retry).
	last  string
	delay time.Duration
}

// post sends one request, body (appendRequest's) with id and method,
// and reads its answer: resp when it came plain and first on the
// response, nil when it was handed to the session (and so reaches the
// caller through rawCalls.deliver). The request ends with ctx, with the
// connection, and when post returns.
func (h *httpCalls) post(ctx context.Context, sessionID, id, method string, body []byte) (*jsonrpc.Response, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(h.closed, cancel)()
	c := &httpCall{httpCalls: h, ctx: ctx, what: sending(method), sessionID: sessionID, id: id}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.what, err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", "application/json, text/event-stream")
	if sessionID != "" {
		hr.Header.Set(sessionIDHeader, sessionID)
	}
	if v := h.negotiated.Load(); v != nil {
		hr.Header.Set(protocolVersionHeader, *v) // so versionTransport need not copy the request
	}
	resp, err := h.client.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.what, err)
	}
	if fatal, err := c.statusError(resp); fatal {
		return nil, h.fail(err)
	} else if err != nil {
		return nil, err
	}
	if got := resp.Header.Get(sessionIDHeader); got != "" && sessionID != "" && got != sessionID {
		resp.Body.Close()
		return nil, fmt.Errorf("%s: mismatching session IDs %q and %q", c.what, sessionID, got)
	}
	switch ct := mediaType(resp); ct {
	case "application/json":
		defer resp.Body.Close()
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
		switch {
		case err != nil:
			return nil, fmt.Errorf("%s: reading the answer: %w", c.what, err)
		case len(data) > maxAnswerBytes:
			return nil, fmt.Errorf("%s: answer larger than %d MiB", c.what, maxAnswerBytes>>20)
		}
		resp, answered, err := c.take(data)
		if err == nil && !answered {
			err = fmt.Errorf("%s: %w", c.what, errNoAnswer) // a JSON body is the whole response
		}
		return resp, err
	case "text/event-stream":
		return c.stream(resp)
	default:
		resp.Body.Close()
		return nil, fmt.Errorf("%s: unsupported content type %q", c.what, ct)
	}
}

// take handles one message of the call's response: the answer, returned
// when it is plain and nothing of the response went to the session before
// it; anything else handed to the session. answered: the message was the
// call's answer (returned or handed).
func (c *httpCall) take(data []byte) (resp *jsonrpc.Response, answered bool, err error) {
	if !c.handed {
		if resp, ok := plainAnswer(data); ok && resp.ID.Raw() == c.id {
			c.direct.Add(1)
			return resp, true, nil
		}
	}
	msg, err := jsonrpc.DecodeMessage(data)
	if err != nil {
		return nil, false, fmt.Errorf("%s: decoding the answer: %w", c.what, err)
	}
	if err := c.hand(c.ctx, readItem{msg: msg}); err != nil {
		return nil, false, err
	}
	c.handed = true
	if r, ok := msg.(*jsonrpc.Response); ok && r.ID.Raw() == c.id {
		c.httpCalls.handed.Add(1)
		return nil, true, nil
	}
	return nil, false, nil
}

// hand gives the session a message (or ends it with an error). A call
// whose context has ended hands nothing more: what its stream still
// carries is dropped, as the SDK's client drops it.
func (h *httpCalls) hand(ctx context.Context, it readItem) error {
	if err := ctx.Err(); err != nil {
		return err // before a ready session could be chosen below
	}
	select {
	case h.inject <- it:
		return nil
	case <-h.closed.Done():
		return errConnClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fail ends the session with err, as the SDK's transport ends it on an
// answer that means the session is gone or broken; the call gets err.
func (h *httpCalls) fail(err error) error {
	go func() {
		select {
		case h.inject <- readItem{err: err}:
		case <-h.closed.Done():
		}
	}()
	return err
}

// statusError is the call's error for a response that is not 2xx, whose
// body it closes then; fatal: the session is gone or broken and ends. As
// in the SDK's transport: 429, 502, 503 and 504 fail the call only; so
// does a JSON-RPC error in the body, which is the call's error; 404 on a
// session means the backend ended it; any other status is fatal. (A 413
// comes here as a JSON-RPC error already: tooLargeTransport.)
func (c *httpCall) statusError(resp *http.Response) (fatal bool, err error) {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, nil
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return false, fmt.Errorf("%s: %s", c.what, http.StatusText(resp.StatusCode))
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if msg, err := jsonrpc.DecodeMessage(body); err == nil {
		if r, ok := msg.(*jsonrpc.Response); ok && r.Error != nil {
			return false, fmt.Errorf("%s: %w: %s", c.what, r.Error, http.StatusText(resp.StatusCode))
		}
	}
	if resp.StatusCode == http.StatusNotFound && c.sessionID != "" {
		return true, fmt.Errorf("%s: failed to connect (session ID: %v): %w", c.what, c.sessionID, mcp.ErrSessionMissing)
	}
	return true, fmt.Errorf("%s: %s", c.what, http.StatusText(resp.StatusCode))
}

// stream reads the call's SSE response until its answer. A stream that
// ends or breaks before it is resumed from its last event ID with GET
// requests, as the SDK's client resumes it: at most maxRetries attempts
// without an event in between, after the delay the server asked for
// (retry) or a growing one; a stream without event IDs cannot be resumed,
// and the call fails. A resumption that cannot connect ends the session.
func (c *httpCall) stream(resp *http.Response) (*jsonrpc.Response, error) {
	var progressID string
	noProgress := 0
	for {
		answer, answered, err := c.events(resp)
		if answered || err != nil {
			return answer, err
		}
		if c.ctx.Err() != nil {
			return nil, c.ctx.Err()
		}
		if c.last == "" { // this response had no event ID to resume from
			return nil, fmt.Errorf("%s: %w", c.what, errNoAnswer)
		}
		if c.last != progressID {
			progressID, noProgress = c.last, 0
		} else if noProgress++; noProgress > c.maxRetries {
			return nil, c.fail(fmt.Errorf("%s: exceeded %d retries without progress (session ID: %v)", c.what, c.maxRetries, c.sessionID))
		}
		if resp, err = c.resume(); err != nil {
			if c.ctx.Err() != nil {
				return nil, c.ctx.Err()
			}
			return nil, c.fail(fmt.Errorf("%s: failed to reconnect (session ID: %v): %w", c.what, c.sessionID, err))
		}
		if _, err := c.statusError(resp); err != nil {
			return nil, c.fail(err)
		}
	}
}

// events reads one response's events until the call's answer (answered;
// answer is nil when it was handed to the session) or an error; else the
// stream ended or broke before it, and c.last and c.delay say how to
// resume it.
func (c *httpCall) events(resp *http.Response) (answer *jsonrpc.Response, answered bool, err error) {
	c.last, c.delay = "", 0
	defer func() {
		if answered {
			// Read the stream's end in the background, so its connection
			// can be reused (lingerTransport bounds how long).
			go func() { _, _ = io.Copy(io.Discard, resp.Body); resp.Body.Close() }()
			return
		}
		resp.Body.Close()
	}()
	r := readers.Get().(*bufio.Reader)
	r.Reset(resp.Body)
	defer func() { r.Reset(nil); readers.Put(r) }()
	for {
		ev, err := readEvent(r, maxAnswerBytes)
		if ev.id != "" {
			c.last = ev.id
		}
		if n, perr := strconv.ParseInt(ev.retry, 10, 64); perr == nil {
			c.delay = time.Duration(n) * time.Millisecond
		}
		if len(ev.data) > 0 && (ev.name == "" || ev.name == "message") {
			if a, answered, err := c.take(ev.data); err != nil || answered {
				return a, answered, err
			}
		}
		switch {
		case errors.Is(err, errMalformedEvent):
			return nil, false, fmt.Errorf("%s: %w", c.what, err)
		case err != nil && c.ctx.Err() != nil:
			return nil, false, c.ctx.Err()
		case err != nil:
			return nil, false, nil // ended or broke: resume
		}
	}
}

// resume reconnects to the call's stream after c.last.
func (c *httpCall) resume() (*http.Response, error) {
	var err error
	delay := c.delay
	for attempt := 1; attempt <= max(c.maxRetries, 1); attempt++ {
		if delay <= 0 || attempt > 1 {
			delay = reconnectDelay(attempt)
		}
		select {
		case <-c.closed.Done():
			return nil, errConnClosed
		case <-c.ctx.Done():
			return nil, c.ctx.Err()
		case <-time.After(delay):
		}
		var resp *http.Response
		if resp, err = c.get(); err == nil {
			return resp, nil
		}
	}
	return nil, fmt.Errorf("connection failed after %d attempts: %w", c.maxRetries, err)
}

// get opens the session's event stream with GET: after c.last if set (a
// call's stream always has one; the standalone stream may not).
func (c *httpCall) get() (*http.Response, error) {
	req, err := http.NewRequestWithContext(c.ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if c.last != "" {
		req.Header.Set(lastEventIDHeader, c.last)
	}
	if c.sessionID != "" {
		req.Header.Set(sessionIDHeader, c.sessionID)
	}
	return c.client.Do(req)
}

// mediaType is a response's Content-Type without parameters, lower case.
func mediaType(resp *http.Response) string {
	ct, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";")
	return strings.ToLower(strings.TrimSpace(ct))
}

// reconnectDelay is the SDK client's backoff: 1s growing by half each
// attempt, capped at 30s, plus up to as much again of jitter.
func reconnectDelay(attempt int) time.Duration {
	d := time.Second
	for range attempt - 1 {
		d = d * 3 / 2
	}
	d = min(d, 30*time.Second)
	return d + rand.N(d)
}

// readers are the buffers events reads streams through.
var readers = sync.Pool{New: func() any { return bufio.NewReader(nil) }}

// errMalformedEvent is a stream that is not SSE as the SDK's client reads
// it, or an event over the size bound.
var errMalformedEvent = errors.New("malformed event")

// sseEvent is one server-sent event.
type sseEvent struct {
	name, id, retry string
	data            []byte
}

// readEvent reads the next event, with the SDK client's rules: "field:
// value" lines, values trimmed of spaces, data lines joined with "\n", a
// line without a colon (other than the blank line ending an event) is
// malformed, and an event cut off by the stream's clean end still counts,
// while one broken off (any other read error) is dropped. err is io.EOF
// (or the read error) once nothing more can be read; an event may come
// with io.EOF.
func readEvent(r *bufio.Reader, limit int) (ev sseEvent, err error) {
	size, lines, dataLines := 0, 0, 0
	for {
		var line []byte
		line, err = r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long := append([]byte(nil), line...) // line is the reader's buffer
			for errors.Is(err, bufio.ErrBufferFull) && size+len(long) <= limit {
				line, err = r.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if size += len(line); size > limit {
			return sseEvent{}, fmt.Errorf("%w: an event exceeded %d bytes", errMalformedEvent, limit)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return sseEvent{}, err // broken off: what it cut is dropped, as the SDK's client drops it
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			if lines > 0 || err != nil {
				return ev, err
			}
			size = 0
			continue // blank lines between events
		}
		field, value, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			return sseEvent{}, fmt.Errorf("%w: a line without a field: %q", errMalformedEvent, line)
		}
		lines++
		switch string(field) {
		case "event":
			ev.name = string(bytes.TrimSpace(value))
		case "id":
			ev.id = string(bytes.TrimSpace(value))
		case "retry":
			ev.retry = string(bytes.TrimSpace(value))
		case "data":
			if dataLines++; dataLines > 1 {
				ev.data = append(ev.data, '\n')
			}
			ev.data = append(ev.data, bytes.TrimSpace(value)...)
		}
		if err != nil {
			return ev, err
		}
	}
}
