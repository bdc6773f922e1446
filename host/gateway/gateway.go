// Package gateway is the MCP server clients talk to. It serves every
// aggregated method by passing a request.Call through the middleware chain
// to the router, which answers lists from the catalogue and forwards calls
// over the backend's link (package relay). Package supervisor keeps the
// backends connected and the catalogue filled.
//
// Data flows one way: transport (streamable HTTP or stdio, package
// transport) -> Gateway.server -> request.Chain -> router -> relay.Link ->
// backend.Conn. Observers (audit, telemetry) watch the chain from the
// side; supervision feeds the catalogue and the links.
package gateway

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/catalog"
	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/events"
	"github.com/argusmcp/argus/host/logging"
	"github.com/argusmcp/argus/host/relay"
	"github.com/argusmcp/argus/host/request"
	"github.com/argusmcp/argus/host/revision"
	"github.com/argusmcp/argus/host/rounds"
	"github.com/argusmcp/argus/host/supervisor"
)

// Options configure a Gateway beyond its Config.
type Options struct {
	// Version is reported to clients and backends as Argus's version.
	Version string
	// Probes check backend health: the health probe plugin instances
	// (host/pluginhost/probe; the configuration adds the built-in ping
	// probe when none is configured). Empty: no health checks run.
	Probes []supervisor.Prober
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
	// Redact, if set, takes Argus's secrets out of the JSON-RPC errors its
	// clients are sent (logging.Secrets.RedactString): a backend's error,
	// or a decoder's quoting the backend's answer, can carry what Argus
	// sent that backend, such as the credentials configured for it.
	Redact func(string) string
}

// Gateway aggregates the configured backends behind one MCP server.
// Start connects the backends; Close disconnects them. All methods are safe
// for concurrent use.
//
// The embedded Supervisor runs the backends: Start, Apply, Reconnect,
// Backends and the other lifecycle and status methods are its.
type Gateway struct {
	*supervisor.Supervisor

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
	redact func(string) string // Options.Redact; never nil
	// declared decodes the client declarations in stateless requests'
	// _meta, once per distinct one.
	declared revision.Declared

	// send is the server's sending method handler, captured so that
	// notifications the SDK has no method for (list_changed from a catalogue
	// Argus maintains itself) can be sent to a session.
	send mcp.MethodHandler

	users sessionUsers // who each client session belongs to

	subMu  sync.Mutex
	subs   map[string]*subscription                // resources/subscribe, by URI
	levels map[*mcp.ServerSession]mcp.LoggingLevel // clients' logging/setLevel
}

// New builds a Gateway for cfg. It does not connect anything yet.
func New(cfg *config.Config, log hclog.Logger, opts Options) *Gateway {
	g := &Gateway{
		log:     log,
		version: opts.Version,
		catalog: catalog.New(catalog.PolicyFromConfig(cfg)),
		subs:    map[string]*subscription{},
		levels:  map[*mcp.ServerSession]mcp.LoggingLevel{},
	}
	g.redact = opts.Redact
	if g.redact == nil {
		g.redact = func(s string) string { return s }
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
		Logger:                  logging.SlogDemoting(log.Named("mcp"), routineSDKRecord),
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
	g.server.AddSendingMiddleware(g.divert)
	g.server.AddReceivingMiddleware(g.intercept)
	g.Supervisor = supervisor.New(cfg, log, supervisor.Options{
		Catalog:  g.catalog,
		OnChange: g.notifyChange,
		Relay: relay.Env{Version: opts.Version, Log: log, Panics: g.panics, Server: g.server, Notify: g.notify,
			BeforeMessage: func(method string) {
				if testPanicHook != nil {
					testPanicHook(hookBackendRequest, method)
				}
			}},
		Probes: opts.Probes,
		Events: opts.Events,
	})
	return g
}

// routineSDKRecord picks the MCP SDK's log records that are logged at
// debug: perRequestSession's, and clientMistake's.
func routineSDKRecord(r slog.Record) bool { return perRequestSession(r) || clientMistake(r) }

// clientMistake picks the MCP SDK's records of what a client did wrong
// (the SDK logs them at ERROR: a batch or a request before initialize, a
// second initialize, a method its revision removed) and of a notification
// it could not deliver to a session with no stream to carry it (WARN, once
// per session and list at every catalogue change: 21% of the log lines of
// a soak with sessions without a GET stream). The client is answered, or
// has nothing to be told on; any client could otherwise fill the log, and
// page someone, at will.
func clientMistake(r slog.Record) bool {
	switch r.Message {
	case "method invalid during initialization", "method removed in the new protocol",
		"initialized before initialize", "duplicate initialized notification", "duplicate initialize request":
		return true
	}
	return strings.HasPrefix(r.Message, "calling notifications/") && strings.Contains(r.Message, "undelivered message")
}

// perRequestSession picks the MCP SDK's log records about a session of
// the stateless revision, which lives for one request: its opening and
// closing (session_id empty) are routine there, not news, and are logged
// at debug. So is the SDK's "server connecting", which precedes every
// session's own line; a stateful session's opening and closing (with its
// id) stay at info.
func perRequestSession(r slog.Record) bool {
	switch r.Message {
	case "server connecting":
		return true
	case "server session connected", "server session disconnected":
		id := ""
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "session_id" {
				id = a.Value.String()
				return false
			}
			return true
		})
		return id == ""
	}
	return false
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

// Close disconnects every backend (stopping stdio processes) and waits for
// the watchers. It is safe to call more than once.
func (g *Gateway) Close(ctx context.Context) error {
	if !g.Stop() {
		return nil
	}
	g.rounds.Close()
	for ss := range g.server.Sessions() {
		ss.Close()
	}
	// Each backend's supervisor closes its session (stopping a stdio
	// process) when it sees the stop; per-client links close likewise.
	return g.Wait(ctx)
}

// Sessions lists the connected client sessions. The session the SDK
// makes for one request of the stateless revision (it has no id, and
// ends with its request) is not one: StatelessInFlight counts those.
func (g *Gateway) Sessions() []SessionStatus {
	var out []SessionStatus
	for ss := range g.server.Sessions() {
		if revision.OneRequest(ss) {
			continue
		}
		s := SessionStatus{ID: ss.ID(), PerClientBackends: g.PerClientBackends(ss)}
		if u, ok := g.users.get(ss); ok {
			s.User, s.Issuer, s.Groups = u.User, u.Issuer, u.Groups
		}
		if ip := ss.InitializeParams(); ip != nil {
			s.ProtocolVersion = ip.ProtocolVersion
			if ip.ClientInfo != nil {
				s.Client = ip.ClientInfo.Name + " " + ip.ClientInfo.Version
			}
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b SessionStatus) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// StatelessInFlight is the number of requests of the stateless revision
// being served: each has a session of its own, without an id, for its
// duration.
func (g *Gateway) StatelessInFlight() int {
	n := 0
	for ss := range g.server.Sessions() {
		if revision.OneRequest(ss) {
			n++
		}
	}
	return n
}

// SessionStatus is one connected client session.
type SessionStatus struct {
	ID                string   `json:"id"`
	Client            string   `json:"client,omitempty"`
	ProtocolVersion   string   `json:"protocol_version,omitempty"`
	PerClientBackends []string `json:"per_client_backends,omitempty"`
	// User is who the session belongs to, once it has made an aggregated
	// call ("": anonymous); Issuer and Groups when a JWT authenticated
	// them.
	User   string   `json:"user,omitempty"`
	Issuer string   `json:"issuer,omitempty"`
	Groups []string `json:"groups,omitempty"`
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
