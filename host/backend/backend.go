// Package backend connects Argus to one upstream MCP server through the
// official MCP Go SDK client transports (command/stdio, streamable HTTP,
// SSE) and lists what it offers.
package backend

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/catalog"
	"github.com/argusmcp/argus/host/config"
)

// Options are the parts of a connection that come from the host rather
// than from the backend's configuration.
type Options struct {
	// Logger receives connection events and, for stdio backends, every line
	// the process writes to stderr. Required.
	Logger hclog.Logger
	// Client identifies Argus to the backend in initialize.
	Client *mcp.Implementation
	// ClientOptions carries the handlers for backend-initiated messages
	// (list_changed, progress, sampling, ...). May be nil.
	ClientOptions *mcp.ClientOptions
	// Middleware, if set, is added to the client's receiving middleware,
	// for backend-initiated requests no ClientOptions handler covers.
	Middleware mcp.Middleware
	// OnRead, if set, sees every message read from the backend, in wire
	// order and before it is dispatched. It runs on the connection's reader
	// goroutine and must not block.
	OnRead func(jsonrpc.Message)
	// OnClient, if set, is called with the new client before it connects,
	// for hooks such as capturing its sending handler.
	OnClient func(*mcp.Client)
	// Pool, for a streamable-HTTP or SSE backend, is the connections the
	// session uses, shared with the backend's other sessions. nil: a pool
	// of the session's own, whose connections close with it.
	Pool *Pool
	// OneRequest: the session serves the calls of one request of a
	// stateless client and ends with them. A streamable-HTTP backend is
	// not opened the standalone stream, which carries what belongs to no
	// call: such a client has no session for it to reach, and the
	// stream's connection, closed with the session, would cost one TCP
	// connection (left in TIME_WAIT) per call.
	OneRequest bool
}

// Conn is one live session with a backend. Its methods are safe for
// concurrent use; the session multiplexes concurrent requests.
type Conn struct {
	cfg     config.Backend
	session *mcp.ClientSession
	client  *mcp.Implementation
	send    mcp.MethodHandler // the client's sending handler, below every middleware
	done    chan struct{}
	err     error // why the session ended; read after done is closed
	raw     *rawCalls
}

// Dial makes one connection attempt, bounded by cfg.ConnectTimeout, and
// completes the MCP initialize handshake.
//
// The transport's context outlives Dial: the SSE transport, for one, keeps
// its event stream open for as long as the context it connected with, so
// the timeout is enforced beside it and the context is cancelled by Close.
func Dial(ctx context.Context, cfg config.Backend, opts Options) (*Conn, error) {
	negotiated := new(atomic.Pointer[string])
	raw := &rawCalls{waiting: map[string]chan *jsonrpc.Response{}}
	pool, release := opts.Pool, func() {}
	if pool == nil && cfg.Type != config.TypeStdio {
		// The session's own: closed when it ends, and once more after a
		// POST's response may still have been read away (drainGrace),
		// which returns its connection to the pool.
		pool = NewPool()
		release = func() {
			pool.CloseIdle()
			time.AfterFunc(2*drainGrace, pool.CloseIdle)
		}
	}
	t, err := transport(cfg, opts.Logger, negotiated, raw, pool)
	if err != nil {
		return nil, err
	}
	t = observedTransport{t, opts.OnRead, raw}
	connCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	type dialed struct {
		s   *mcp.ClientSession
		err error
	}
	ch := make(chan dialed, 1)
	var send mcp.MethodHandler
	go func() {
		client := mcp.NewClient(opts.Client, opts.ClientOptions)
		client.AddSendingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
			send = next
			return next
		})
		if opts.Middleware != nil {
			client.AddReceivingMiddleware(opts.Middleware)
		}
		if opts.OnClient != nil {
			opts.OnClient(client)
		}
		s, err := client.Connect(connCtx, t, &mcp.ClientSessionOptions{ProtocolVersion: cfg.ProtocolVersion})
		ch <- dialed{s, err}
	}()
	timer := time.NewTimer(cfg.ConnectTimeout)
	defer timer.Stop()
	var d dialed
	select {
	case d = <-ch:
	case <-timer.C:
		cancel()
		d = <-ch
		if d.err == nil {
			d.s.Close()
		}
		release()
		return nil, fmt.Errorf("backend %q: connect: no answer to initialize within %s", cfg.Name, cfg.ConnectTimeout)
	case <-ctx.Done():
		cancel()
		d = <-ch
		if d.err == nil {
			d.s.Close()
		}
		release()
		return nil, fmt.Errorf("backend %q: connect: %w", cfg.Name, ctx.Err())
	}
	if d.err != nil {
		cancel()
		release()
		return nil, fmt.Errorf("backend %q: connect: %w", cfg.Name, d.err)
	}
	c := &Conn{cfg: cfg, session: d.s, client: opts.Client, send: send, done: make(chan struct{}), raw: raw}
	if v := c.ProtocolVersion(); v != "" {
		negotiated.Store(&v)
	}
	if raw.http != nil && c.RawCalls() && !opts.OneRequest {
		// The SDK's client would open the standalone SSE stream here, had
		// it seen its own connection (see httpCalls.listen).
		go raw.http.listen(d.s.ID(), opts.Logger.Warn)
	}
	go func() {
		c.err = d.s.Wait()
		raw.close()
		cancel()
		release()
		close(c.done)
	}()
	return c, nil
}

// DialRetry dials until it succeeds, ctx ends, or 1+cfg.ConnectRetries
// attempts have failed, waiting an exponentially growing, jittered delay
// (starting at cfg.RetryBackoff, capped at 30s) between attempts.
func DialRetry(ctx context.Context, cfg config.Backend, opts Options) (*Conn, error) {
	delay := cfg.RetryBackoff
	var err error
	for attempt := 0; attempt <= cfg.ConnectRetries; attempt++ {
		if attempt > 0 {
			wait := delay/2 + rand.N(delay/2+1)
			opts.Logger.Warn("backend connection failed; retrying", "attempt", attempt, "of", cfg.ConnectRetries+1, "retry_in", wait.Round(time.Millisecond), "error", err)
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("backend %q: %w (last error: %v)", cfg.Name, ctx.Err(), err)
			case <-time.After(wait):
			}
			delay = min(delay*2, 30*time.Second)
		}
		var c *Conn
		if c, err = Dial(ctx, cfg, opts); err == nil {
			return c, nil
		}
	}
	return nil, err
}

// Session is the MCP client session requests are sent on.
func (c *Conn) Session() *mcp.ClientSession { return c.session }

// Config is the configuration the connection was made with.
func (c *Conn) Config() config.Backend { return c.cfg }

// Done is closed when the session has ended, for whatever reason.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err says why the session ended; nil before Done is closed.
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Close ends the session. For stdio backends it closes the process's stdin,
// then signals it (SIGTERM, then SIGKILL) if it does not exit, and waits for
// it, so no process outlives Close.
func (c *Conn) Close() error {
	err := c.session.Close()
	<-c.done
	return err
}

// Inventory lists every tool, resource, resource template and prompt the
// backend advertises, following pagination.
func (c *Conn) Inventory(ctx context.Context) (*catalog.Inventory, error) {
	inv := &catalog.Inventory{Backend: c.cfg.Name}
	caps := c.session.InitializeResult().Capabilities
	if caps == nil {
		caps = &mcp.ServerCapabilities{}
	}
	if caps.Tools != nil {
		for t, err := range c.session.Tools(ctx, nil) {
			if err != nil {
				return nil, fmt.Errorf("backend %q: tools/list: %w", c.cfg.Name, err)
			}
			inv.Tools = append(inv.Tools, t)
		}
	}
	if caps.Resources != nil {
		for r, err := range c.session.Resources(ctx, nil) {
			if err != nil {
				return nil, fmt.Errorf("backend %q: resources/list: %w", c.cfg.Name, err)
			}
			inv.Resources = append(inv.Resources, r)
		}
		for t, err := range c.session.ResourceTemplates(ctx, nil) {
			if err != nil {
				return nil, fmt.Errorf("backend %q: resources/templates/list: %w", c.cfg.Name, err)
			}
			inv.Templates = append(inv.Templates, t)
		}
	}
	if caps.Prompts != nil {
		for p, err := range c.session.Prompts(ctx, nil) {
			if err != nil {
				return nil, fmt.Errorf("backend %q: prompts/list: %w", c.cfg.Name, err)
			}
			inv.Prompts = append(inv.Prompts, p)
		}
	}
	return inv, nil
}

// transport is the SDK transport for cfg. An HTTP transport uses pool's
// connections. For HTTP transports, negotiated
// is the revision the session settles on, sent as MCP-Protocol-Version on
// every request once it is set (see versionTransport). A stdio backend's
// answers to Conn.Call are delivered to raw from its output.
func transport(cfg config.Backend, log hclog.Logger, negotiated *atomic.Pointer[string], raw *rawCalls, pool *Pool) (mcp.Transport, error) {
	switch cfg.Type {
	case config.TypeStdio:
		cmd := exec.Command(cfg.Command, cfg.Args...)
		cmd.Dir = cfg.Dir
		cmd.Env = os.Environ()
		for k, v := range cfg.Env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		cmd.Stderr = log.Named("stderr").StandardWriter(&hclog.StandardLoggerOptions{InferLevels: true, ForceLevel: hclog.Debug})
		cmd.SysProcAttr = childProcAttr()
		return &stdioTransport{cmd: cmd, terminate: 2 * time.Second, raw: raw}, nil
	case config.TypeStreamableHTTP:
		const retries = 2
		client := httpClient(pool, cfg.Headers, negotiated)
		raw.http = newHTTPCalls(client, cfg.URL, retries, negotiated)
		return &mcp.StreamableClientTransport{Endpoint: cfg.URL, HTTPClient: client, MaxRetries: retries}, nil
	case config.TypeSSE:
		return &mcp.SSEClientTransport{Endpoint: cfg.URL, HTTPClient: httpClient(pool, cfg.Headers, negotiated)}, nil
	}
	return nil, fmt.Errorf("backend %q: unsupported type %q", cfg.Name, cfg.Type)
}

// observedTransport shows every message read to a callback (if any)
// before the SDK dispatches it, and takes the answers to Conn.Call off the
// wire.
type observedTransport struct {
	mcp.Transport
	onRead func(jsonrpc.Message)
	raw    *rawCalls
}

func (t observedTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	c, err := t.Transport.Connect(ctx)
	if err != nil {
		return nil, err
	}
	t.raw.mu.Lock()
	t.raw.conn = c
	t.raw.mu.Unlock()
	oc := &observedConn{Connection: c, onRead: t.onRead, raw: t.raw}
	if h := t.raw.http; h != nil {
		// Messages come from the SDK's transport and from Call's own
		// requests (httpCalls): one goroutine reads the former so Read
		// can wait for both.
		oc.pumped = make(chan jsonrpc.Message)
		go oc.pump(h.closed.Done())
	}
	return oc, nil
}

type observedConn struct {
	mcp.Connection
	onRead func(jsonrpc.Message)
	raw    *rawCalls
	pumped chan jsonrpc.Message // with raw.http: what the SDK's transport read
	// pumpErr ends the SDK transport's messages: set before pumped closes.
	pumpErr error
}

func (c *observedConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	r := c.raw
	// Asked for another message, the SDK's session is done with every one
	// it took: an answer written after them may go straight to its caller
	// (answerFilter), as it would have from here.
	r.read.Store(r.taken.Load())
	for {
		msg, err := c.next(ctx)
		if err != nil {
			return msg, err
		}
		r.taken.Add(1)
		if resp, ok := msg.(*jsonrpc.Response); ok && r.deliver(resp) {
			r.read.Store(r.taken.Load())
			continue
		}
		if c.onRead != nil {
			c.onRead(msg)
		}
		return msg, nil
	}
}

// next is the next message of the SDK's transport or of Call's requests.
func (c *observedConn) next(ctx context.Context) (jsonrpc.Message, error) {
	if c.pumped == nil {
		return c.Connection.Read(ctx)
	}
	select {
	case m, ok := <-c.pumped:
		if !ok {
			return nil, c.pumpErr
		}
		return m, nil
	case it := <-c.raw.http.inject:
		return it.msg, it.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// pump reads the SDK transport's messages for next until the connection
// fails or closes; then it closes pumped.
func (c *observedConn) pump(stop <-chan struct{}) {
	for {
		msg, err := c.Connection.Read(context.Background())
		if err == nil {
			select {
			case c.pumped <- msg:
				continue
			case <-stop: // closed: what came with it is dropped
				err = io.EOF
			}
		}
		c.pumpErr = err
		close(c.pumped)
		return
	}
}

// Close closes the connection and stops what reads it for Read.
func (c *observedConn) Close() error {
	err := c.Connection.Close()
	if h := c.raw.http; h != nil {
		h.close()
	}
	return err
}

// statelessRevision is the first MCP revision without ping.
const statelessRevision = "2026-07-28"

// Ping checks that the backend answers. Revision 2026-07-28 removed ping;
// for a backend that negotiated it, a tools/list (or, without tools, a
// prompts/list or resources/list) serves as the check instead, so a healthy
// modern backend is never reported down. That request goes to the backend
// every time: the session's list methods answer from the SDK's cache while
// the backend's ttlMs lasts, which would report a backend that has gone
// away as healthy.
func (c *Conn) Ping(ctx context.Context) error {
	res := c.session.InitializeResult()
	if res == nil || res.ProtocolVersion < statelessRevision {
		return c.session.Ping(ctx, nil)
	}
	// The per-request _meta a 2026-07-28 request must carry (the session's
	// list methods add it themselves).
	meta := mcp.Meta{mcp.MetaKeyProtocolVersion: res.ProtocolVersion, mcp.MetaKeyClientCapabilities: map[string]any{}}
	if c.client != nil {
		meta[mcp.MetaKeyClientInfo] = c.client
	}
	var err error
	caps := res.Capabilities
	switch {
	case caps != nil && caps.Prompts != nil && caps.Tools == nil:
		_, err = c.send(ctx, "prompts/list", &mcp.ClientRequest[*mcp.ListPromptsParams]{Session: c.session, Params: &mcp.ListPromptsParams{Meta: meta}})
	case caps != nil && caps.Resources != nil && caps.Tools == nil:
		_, err = c.send(ctx, "resources/list", &mcp.ClientRequest[*mcp.ListResourcesParams]{Session: c.session, Params: &mcp.ListResourcesParams{Meta: meta}})
	default:
		_, err = c.send(ctx, "tools/list", &mcp.ClientRequest[*mcp.ListToolsParams]{Session: c.session, Params: &mcp.ListToolsParams{Meta: meta}})
	}
	return err
}

// ProtocolVersion is the MCP revision the backend negotiated.
func (c *Conn) ProtocolVersion() string {
	if res := c.session.InitializeResult(); res != nil {
		return res.ProtocolVersion
	}
	return ""
}
