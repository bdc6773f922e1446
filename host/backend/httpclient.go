package backend

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/argusmcp/argus/host/request"
)

// drainGrace is how long the rest of a POST's response may be read, out
// of the SDK's sight, after the call that made it has ended
// (lingerTransport): ample for the last chunk of a stream that ends right
// after its answer, short enough that a stream that goes on holds its
// connection only briefly.
const drainGrace = 250 * time.Millisecond

// Pool is the HTTP connections to one streamable-HTTP or SSE backend,
// shared by every session to it: the shared session and each per-client
// one (a stateless client's request opens one of those per call), so that
// sessions reuse each other's connections instead of each keeping a pool
// of its own open after it ends.
type Pool struct{ t *http.Transport }

// NewPool makes an empty pool.
func NewPool() *Pool {
	t := http.DefaultTransport.(*http.Transport).Clone()
	// Many client sessions share these connections to the backend; the
	// default of 2 idle connections per host would make concurrent calls
	// open and close a connection each.
	t.MaxIdleConnsPerHost = 64
	return &Pool{t: t}
}

// CloseIdle closes the pool's connections that no request is using; a
// connection in use stays until its request is done, then goes back to
// the pool (which keeps it at most its idle timeout, 90 s).
func (p *Pool) CloseIdle() { p.t.CloseIdleConnections() }

// httpClient is the HTTP client of one session to a streamable-HTTP or
// SSE backend: the backend's pool of connections, the configured
// headers, the negotiated revision's header, and POST responses that are
// read to their end before the connection is let go.
func httpClient(pool *Pool, headers map[string]string, negotiated *atomic.Pointer[string]) *http.Client {
	var rt http.RoundTripper = lingerTransport{base: pool.t, grace: drainGrace}
	if len(headers) > 0 {
		rt = headerTransport{base: rt, headers: headers}
	}
	// Trace headers configured on the backend stand for the whole trace
	// context: none is injected beside them (a tracestate or baggage
	// next to a traceparent they do not belong to).
	if !configuresTraceHeaders(headers) {
		rt = traceTransport{base: rt}
	}
	return &http.Client{Transport: tooLargeTransport{versionTransport{base: rt, negotiated: negotiated}}}
}

// configuresTraceHeaders reports whether headers set any of the W3C trace
// context headers.
func configuresTraceHeaders(headers map[string]string) bool {
	for k := range headers {
		if request.IsTraceContextKey(k) {
			return true
		}
	}
	return false
}

// traceTransport writes the trace context of the call a request belongs
// to into its headers, when telemetry put an injector in the request's
// context (request.WithHeaderInjector): the same context as the request's
// _meta carries, for a backend instrumented at its HTTP layer.
type traceTransport struct{ base http.RoundTripper }

func (t traceTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if inject := request.HeaderInjector(r.Context()); inject != nil {
		r = r.Clone(r.Context())
		inject(r.Header)
	}
	return t.base.RoundTrip(r)
}

// tooLargeTransport turns a backend's 413 to a POST of a message with an
// id (a request, or the client's answer to the backend's request) into a
// JSON-RPC error under that id. The SDK's streamable client ends
// the session on any status but a few, unless the body carries a JSON-RPC
// error; a 413 refuses one request for its size (a go-sdk server takes at
// most 4 MiB, and what Argus forwards grows by its id and trace context),
// so one client's large request would otherwise end the session every
// client of the backend shares, on every path to it, the SDK's included.
type tooLargeTransport struct{ base http.RoundTripper }

func (t tooLargeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge || r.Method != http.MethodPost || r.GetBody == nil {
		return resp, err
	}
	body, gerr := r.GetBody()
	if gerr != nil {
		return resp, nil
	}
	var req struct {
		ID json.RawMessage `json:"id"`
	}
	derr := json.NewDecoder(body).Decode(&req)
	body.Close()
	if derr != nil || len(req.ID) == 0 || string(req.ID) == "null" {
		return resp, nil // a batch or a notification: as it came
	}
	// The backend's body is not quoted: it may echo the request, and with
	// it the credentials configured for the backend.
	resp.Body.Close()
	answer, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": req.ID, "error": map[string]any{
		"code":    jsonrpc.CodeInvalidRequest,
		"message": "the backend refused the request for its size (HTTP 413 Request Entity Too Large)",
	}})
	resp.Header = resp.Header.Clone()
	resp.Header.Set("Content-Type", "application/json")
	resp.Header.Del("Content-Length")
	resp.Body = io.NopCloser(bytes.NewReader(answer))
	resp.ContentLength = int64(len(answer))
	return resp, nil
}

// lingerTransport keeps a POST's connection alive past the end of the call
// that made it. The SDK's streamable client answers a call from the SSE
// response of its POST as soon as the answer's event is read, and only
// then reads the stream to its end, in the background and under the
// call's context. The call's context ends as soon as the client has its
// answer, often before the stream's last chunk is read; net/http then
// closes the connection instead of returning it to the pool, and a later
// call opens a new one (measured: one call in a hundred at 16 concurrent
// clients). So a POST here runs under a context of its own:
//
//   - while the response's headers are awaited, it ends with the caller's;
//   - once the body is being read and the caller's ends, the body is
//     detached: the SDK's reads fail at once, as they would have, so
//     nothing more of the stream (a cancelled call's log messages or
//     requests) reaches the SDK, and on Close the rest is read away in
//     the background for at most grace, then the request is ended;
//   - when the body is closed before that, at once.
type lingerTransport struct {
	base  http.RoundTripper
	grace time.Duration
}

func (t lingerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	parent := r.Context()
	if r.Method != http.MethodPost || parent.Done() == nil {
		return t.base.RoundTrip(r)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	b := &lingerBody{cancel: cancel, grace: t.grace}
	b.stop = context.AfterFunc(parent, b.detach)
	resp, err := t.base.RoundTrip(r.WithContext(ctx))
	if err != nil {
		b.stop()
		cancel()
		return nil, err
	}
	b.rc = resp.Body
	b.reading.Store(true)
	if parent.Err() != nil && b.stop() {
		// The caller ended while the headers were awaited and its
		// AfterFunc had not run yet.
		b.detach()
	}
	resp.Body = b
	return resp, nil
}

// lingerBody is a POST's response body under lingerTransport.
type lingerBody struct {
	rc     io.ReadCloser
	cancel context.CancelFunc // ends the request
	stop   func() bool        // stops detach from running
	grace  time.Duration

	reading  atomic.Bool // the headers are in: rc is set
	detached atomic.Bool // the caller has ended: reads fail
	closed   atomic.Bool
	once     sync.Once
	mu       sync.Mutex
	timer    *time.Timer // ends the request grace after detach
}

// detach runs when the caller's context ends before the body is closed.
func (b *lingerBody) detach() {
	if !b.reading.Load() {
		b.cancel() // no response yet: the request ends with its caller
		return
	}
	if b.closed.Load() {
		return
	}
	b.detached.Store(true)
	b.mu.Lock()
	b.timer = time.AfterFunc(b.grace, b.cancel)
	b.mu.Unlock()
}

func (b *lingerBody) Read(p []byte) (int, error) {
	if b.detached.Load() {
		return 0, context.Canceled
	}
	n, err := b.rc.Read(p)
	if b.detached.Load() {
		return 0, context.Canceled // what came with the caller gone is dropped
	}
	return n, err
}

func (b *lingerBody) Close() error {
	var err error
	b.once.Do(func() {
		b.closed.Store(true)
		if b.detached.Load() {
			// Read the rest away from the SDK, for at most grace (the
			// timer ends the request), so the connection can be reused.
			go func() {
				_, _ = io.Copy(io.Discard, b.rc)
				b.rc.Close()
				b.release()
			}()
			return
		}
		err = b.rc.Close()
		b.release()
	})
	return err
}

// release ends the request and everything that would end it later.
func (b *lingerBody) release() {
	b.stop()
	b.mu.Lock()
	if b.timer != nil {
		b.timer.Stop()
	}
	b.mu.Unlock()
	b.cancel()
}

// protocolVersionHeader is the HTTP header naming the MCP revision of a
// request (streamable HTTP transport).
const protocolVersionHeader = "Mcp-Protocol-Version"

// versionTransport sends the session's negotiated revision as
// MCP-Protocol-Version on every request that does not carry one, as the
// streamable HTTP transport requires after initialization. The SDK's own
// transport learns the revision through a hook that observedTransport's
// wrapper hides from it (the hook is unexported), so without this a
// backend would receive requests without the header and assume 2025-03-26.
// Requests made before the session is established (initialize,
// server/discover) are left as the SDK makes them.
type versionTransport struct {
	base       http.RoundTripper
	negotiated *atomic.Pointer[string]
}

func (t versionTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if v := t.negotiated.Load(); v != nil && r.Header.Get(protocolVersionHeader) == "" {
		r = r.Clone(r.Context())
		r.Header.Set(protocolVersionHeader, *v)
	}
	return t.base.RoundTrip(r)
}

// headerTransport adds the configured headers to every request.
type headerTransport struct {
	base    http.RoundTripper
	headers map[string]string
}

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.headers {
		r.Header.Set(k, v)
	}
	return t.base.RoundTrip(r)
}
