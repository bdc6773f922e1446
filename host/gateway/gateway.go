// Package gateway is the MCP server clients talk to. It owns the backend
// connections and the catalogue, and serves every aggregated method by
// passing a request.Call through the middleware chain to the router.
//
// Data flows one way: transport (streamable HTTP or stdio, package transport) -> Gateway.server ->
// request.Chain -> router -> backend.Conn. Observers (audit, telemetry)
// watch the chain from the side.
package gateway

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/backend"
	"github.com/argusmcp/argus/host/catalog"
	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/events"
	"github.com/argusmcp/argus/host/health"
	"github.com/argusmcp/argus/host/logging"
	"github.com/argusmcp/argus/host/request"
	"github.com/argusmcp/argus/host/revision"
	"github.com/argusmcp/argus/host/rounds"
)

// Options configure a Gateway beyond its Config.
type Options struct {
	// Version is reported to clients and backends as Argus's version.
	Version string
	// Probes check backend health: the health probe plugin instances
	// (host/pluginhost/probe; the configuration adds the built-in ping
	// probe when none is configured). Empty: no health checks run.
	Probes []Prober
	// Events receives lifecycle and health events; nil keeps none.
	Events *events.Log
	// Observers watch every call (audit, telemetry). May be empty.
	Observers []request.Observer
	// Middlewares run after auth, before routing.
	Middlewares []request.Middleware
	// Panics records the panics recovered while serving clients and
	// backends; nil makes one that logs on the gateway's logger. Share it
	// with the transport so Panics().Count() covers every recovery point.
	Panics *request.Panics
}

// Gateway aggregates the configured backends behind one MCP server.
// Start connects the backends; Close disconnects them. All methods are safe
// for concurrent use.
type Gateway struct {
	cfg     *config.Config // in force; replaced by Apply (guarded by mu)
	boot    *config.Config // as given to New: the settings only a restart changes
	log     hclog.Logger
	version string
	catalog *catalog.Catalog
	server  *mcp.Server
	chain   *request.Chain
	// shape fits every routed result to the calling client's revision.
	shape *revision.Shaper
	// rounds holds the multi-round-trip calls of 2026-07-28 clients whose
	// backends asked for input (SEP-2322); closed by Close.
	rounds *rounds.Bridge
	panics *request.Panics

	// send is the server's sending method handler, captured so that
	// notifications the SDK has no method for (list_changed from a catalogue
	// Argus maintains itself) can be sent to a session.
	send mcp.MethodHandler

	mu       sync.RWMutex
	backends map[string]*liveBackend
	closed   bool
	closing  chan struct{} // closed by Close
	wg       sync.WaitGroup

	// ctx is cancelled by Close: it ends every backend's connection
	// attempts and supervision.
	ctx    context.Context
	cancel context.CancelFunc
	// catMu orders catalogue updates against the removal of a backend, so
	// a removed backend's late connection cannot publish its inventory.
	catMu sync.Mutex

	subMu  sync.Mutex
	subs   map[string]int                          // shared-link subscriptions per URI
	levels map[*mcp.ServerSession]mcp.LoggingLevel // clients' logging/setLevel

	probes    []Prober // guarded by mu; replaced by SetProbes
	events    *events.Log
	startedAt time.Time
	startup   chan struct{} // closed when every first connection attempt has ended
	pending   atomic.Int64  // first connection attempts still running
	startMu   sync.Mutex
	startErr  error // conflicts under the "error" strategy at start-up
}

// liveBackend is one configured backend: its shared link (used for the
// catalogue, and for calls unless the backend is per-client) and the
// per-client links of session_mode = "per-client".
type liveBackend struct {
	cfg     config.Backend
	shared  *link
	refresh chan struct{} // coalesced list_changed signals

	clientMu  sync.Mutex
	clients   map[*mcp.ServerSession]*clientLink
	capWarned atomic.Int64 // unix nanoseconds of the last logged max_clients refusal

	// Lifecycle and health (lifecycle.go).
	mu         sync.Mutex
	firstSince time.Time // start of the first attempt at start-up; zero for backends added later
	firstDone  bool      // the first attempt at start-up has ended
	phase      health.Phase
	since      time.Time // when phase was entered
	lastErr    string
	conds      health.Conditions
	tracker    health.Tracker
	reconnect  chan struct{} // operator asked for a reconnect; coalesced
	unhealthy  chan struct{} // the checker's verdict; coalesced

	// ctx is cancelled when the backend is removed or the gateway
	// closes; it bounds every connection attempt and goroutine of lb.
	ctx    context.Context
	cancel context.CancelFunc
}

// clientLink is a per-client link that may still be connecting.
type clientLink struct {
	ready chan struct{} // closed once l is connected or err is set
	l     *link
	err   error
	// lastUsed is when the link was last handed to a request or seen busy;
	// guarded by liveBackend.clientMu.
	lastUsed time.Time
}

// New builds a Gateway for cfg. It does not connect anything yet.
func New(cfg *config.Config, log hclog.Logger, opts Options) *Gateway {
	g := &Gateway{
		cfg:      cfg,
		boot:     cfg,
		log:      log,
		version:  opts.Version,
		catalog:  catalog.New(catalog.PolicyFromConfig(cfg)),
		backends: map[string]*liveBackend{},
		closing:  make(chan struct{}),
		startup:  make(chan struct{}),
		subs:     map[string]int{},
		levels:   map[*mcp.ServerSession]mcp.LoggingLevel{},
		probes:   opts.Probes,
		events:   opts.Events,
	}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	if g.events == nil {
		g.events = events.New(0)
	}
	g.panics = opts.Panics
	if g.panics == nil {
		g.panics = request.NewPanics(log)
	}
	mws := append([]request.Middleware{request.Auth()}, opts.Middlewares...)
	g.chain = request.NewChain(g.route, opts.Observers, g.panics, mws...)
	impl := &mcp.Implementation{Name: "argus", Title: "Argus MCP gateway", Version: opts.Version}
	g.shape = &revision.Shaper{Server: impl, Private: cfg.Auth != nil}
	g.rounds = rounds.New(rounds.Options{})
	g.server = mcp.NewServer(impl, &mcp.ServerOptions{
		Logger:                  logging.Slog(log.Named("mcp")),
		SubscribeHandler:        g.subscribe,
		UnsubscribeHandler:      g.unsubscribe,
		RootsListChangedHandler: g.rootsListChanged,
		Capabilities: &mcp.ServerCapabilities{
			Tools:       &mcp.ToolCapabilities{ListChanged: true},
			Resources:   &mcp.ResourceCapabilities{ListChanged: true, Subscribe: true},
			Prompts:     &mcp.PromptCapabilities{ListChanged: true},
			Completions: &mcp.CompletionCapabilities{},
			Logging:     &mcp.LoggingCapabilities{},
		},
	})
	g.server.AddSendingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		g.send = next
		return next
	})
	g.server.AddReceivingMiddleware(g.intercept)
	return g
}

// Server is the MCP server to connect client transports to.
func (g *Gateway) Server() *mcp.Server { return g.server }

// Panics records the panics recovered while serving; its Count is the
// argus.panics.recovered metric.
func (g *Gateway) Panics() *request.Panics { return g.panics }

// Catalog is the aggregated catalogue.
func (g *Gateway) Catalog() *catalog.Catalog { return g.catalog }

// notifyChange sends list_changed for each changed list to every client.
//
// The SDK knows how to reach each kind of client (sessions of older
// revisions directly, stateless clients through their subscriptions/listen
// stream), but it sends list_changed only when its own registry changes,
// and Argus serves lists from its catalogue instead. So a change is
// signalled by adding and removing a sentinel entry in the registry: the
// SDK coalesces the two into one notification. Lists are never served
// from the registry, so the sentinel is never visible.
func (g *Gateway) notifyChange(ch catalog.Change) {
	const sentinel = "argus.catalogue-changed"
	if ch.Tools {
		g.server.AddTool(&mcp.Tool{Name: sentinel, InputSchema: map[string]any{"type": "object"}},
			func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) { return nil, nil })
		g.server.RemoveTools(sentinel)
	}
	if ch.Resources {
		uri := "argus:" + sentinel
		g.server.AddResource(&mcp.Resource{Name: sentinel, URI: uri},
			func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) { return nil, nil })
		g.server.RemoveResources(uri)
	}
	if ch.Prompts {
		g.server.AddPrompt(&mcp.Prompt{Name: sentinel},
			func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) { return nil, nil })
		g.server.RemovePrompts(sentinel)
	}
}

func (g *Gateway) notify(ctx context.Context, ss *mcp.ServerSession, method string, req mcp.Request) {
	if _, err := g.send(ctx, method, req); err != nil {
		g.log.Debug("notification not delivered", "method", method, "session", ss.ID(), "error", err)
	}
}

// linkFor returns the link a call from session ss to backend goes over:
// the shared one, or for a per-client backend the session's own, dialled
// on first use and closed when the session ends or has been idle for the
// backend's idle_timeout. A per-client backend has at most max_clients
// links; a session beyond them gets a CodeLimitReached error.
func (g *Gateway) linkFor(ctx context.Context, ss *mcp.ServerSession, name string) (*link, error) {
	g.mu.RLock()
	lb, closed := g.backends[name], g.closed
	g.mu.RUnlock()
	if lb == nil || closed {
		return nil, fmt.Errorf("backend %q is not running", name)
	}
	if lb.cfg.SessionMode != config.SessionPerClient || ss == nil {
		if lb.shared.Conn() == nil {
			return nil, fmt.Errorf("backend %q is unavailable", name)
		}
		return lb.shared, nil
	}
	lb.clientMu.Lock()
	cl := lb.clients[ss]
	if cl == nil {
		if max := lb.cfg.MaxClients; max > 0 && len(lb.clients) >= max {
			lb.clientMu.Unlock()
			if now, last := time.Now().UnixNano(), lb.capWarned.Load(); now-last >= int64(10*time.Second) && lb.capWarned.CompareAndSwap(last, now) {
				g.log.Warn("refusing per-client backend sessions: max_clients reached (logged at most every 10s)", "backend", name, "max_clients", max, "session", ss.ID())
			}
			return nil, request.Errorf(request.OutcomeTransport, request.CodeLimitReached,
				"backend %q serves at most %d clients at once (max_clients); try again later", name, max)
		}
		cl = &clientLink{ready: make(chan struct{}), lastUsed: time.Now()}
		lb.clients[ss] = cl
		lb.clientMu.Unlock()
		g.dialClientLink(lb, ss, cl)
	} else {
		cl.lastUsed = time.Now()
		lb.clientMu.Unlock()
	}
	select {
	case <-cl.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if cl.err != nil {
		return nil, cl.err
	}
	return cl.l, nil
}

// dialClientLink connects a per-client link and ties its life to the
// client session's.
func (g *Gateway) dialClientLink(lb *liveBackend, ss *mcp.ServerSession, cl *clientLink) {
	l := newLink(g, lb.cfg, ss)
	conn, err := backend.Dial(context.Background(), lb.cfg, l.options(nil))
	if err != nil {
		lb.clientMu.Lock()
		delete(lb.clients, ss) // the next call tries again
		lb.clientMu.Unlock()
		cl.err = err
		close(cl.ready)
		return
	}
	l.setConn(conn)
	l.log.Debug("per-client backend session opened", "session", ss.ID())
	cl.l = l
	close(cl.ready)
	g.wg.Go(func() {
		var idle <-chan time.Time
		var timer *time.Timer
		if d := lb.cfg.IdleTimeout; d > 0 {
			timer = time.NewTimer(d)
			defer timer.Stop()
			idle = timer.C
		}
		sessionDone := waitSession(ss)
	wait:
		for {
			select {
			case <-conn.Done():
			case <-sessionDone:
			case <-lb.ctx.Done():
			case <-idle:
				if left := lb.reapIfIdle(ss, cl, lb.cfg.IdleTimeout); left > 0 {
					timer.Reset(left)
					continue
				}
				l.log.Debug("per-client backend session idle; closing it", "session", ss.ID(), "idle_timeout", lb.cfg.IdleTimeout)
			}
			break wait
		}
		lb.clientMu.Lock()
		if lb.clients[ss] == cl {
			delete(lb.clients, ss)
		}
		lb.clientMu.Unlock()
		conn.Close()
		l.log.Debug("per-client backend session closed", "session", ss.ID())
	})
}

// reapIfIdle removes cl from lb's per-client links when it has had no
// request in flight for idle, and returns 0; otherwise it returns how long
// to wait before asking again. A link with requests in flight or resource
// subscriptions counts as used now.
func (lb *liveBackend) reapIfIdle(ss *mcp.ServerSession, cl *clientLink, idle time.Duration) time.Duration {
	lb.clientMu.Lock()
	defer lb.clientMu.Unlock()
	if cl.l.busy() {
		cl.lastUsed = time.Now()
	}
	if left := idle - time.Since(cl.lastUsed); left > 0 {
		return left
	}
	if lb.clients[ss] == cl {
		delete(lb.clients, ss)
	}
	return 0
}

// busy reports whether l has requests in flight or resource subscriptions.
func (l *link) busy() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.calls) > 0 || l.subscriptions > 0
}

// waitSession is closed when a client session ends.
func waitSession(ss *mcp.ServerSession) <-chan struct{} {
	ch := make(chan struct{})
	go func() { ss.Wait(); close(ch) }()
	return ch
}

// links returns every connected link, shared and per-client.
func (g *Gateway) links() []*link {
	g.mu.RLock()
	defer g.mu.RUnlock()
	var out []*link
	for _, name := range slices.Sorted(maps.Keys(g.backends)) {
		lb := g.backends[name]
		if lb.shared.Conn() != nil {
			out = append(out, lb.shared)
		}
		lb.clientMu.Lock()
		for _, cl := range lb.clients {
			select {
			case <-cl.ready:
				if cl.l != nil {
					out = append(out, cl.l)
				}
			default:
			}
		}
		lb.clientMu.Unlock()
	}
	return out
}

// Close disconnects every backend (stopping stdio processes) and waits for
// the watchers. It is safe to call more than once.
func (g *Gateway) Close(ctx context.Context) error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	close(g.closing)
	g.cancel()
	lbs := slices.Collect(maps.Values(g.backends))
	g.mu.Unlock()
	g.rounds.Close()
	for _, lb := range lbs {
		g.transition(lb, health.EventStop, "gateway shutting down")
	}
	for ss := range g.server.Sessions() {
		ss.Close()
	}
	// Each backend's supervisor closes its session (stopping a stdio
	// process) when it sees closing; per-client links close likewise.
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("closing backends: %w", ctx.Err())
	}
}

// Refuse runs a call that the transport refused (AuthErr set) through the
// chain, so that observers record the denial; no backend is involved.
func (g *Gateway) Refuse(ctx context.Context, c *request.Call) {
	if c.AuthErr == nil {
		c.AuthErr = request.ErrUnauthorized
	}
	if c.ID == "" {
		c.ID = uuid.NewString()
	}
	g.chain.Run(ctx, c)
}
