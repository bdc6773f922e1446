// Package relay wraps one client session with a backend (a Link) and
// relays what the backend sends during a client's call to that client:
// progress, log messages, resource updates, and its requests for input
// (sampling, elicitation, roots), either as requests over the client's
// session or, for a client of the stateless revision, as input requests
// of the call's result (SEP-2322).
//
// The supervisor creates links and owns their connections; the router
// forwards calls over them (Begin, Exchange, End).
package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/backend"
	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/logging"
	"github.com/argusmcp/argus/host/request"
	"github.com/argusmcp/argus/host/revision"
	"github.com/argusmcp/argus/host/rounds"
)

// A Link is one session with a backend and the relaying state around it:
// which client calls are in flight on it, which progress tokens it owes
// to whom, and, for per-client links, the one client session it serves.
//
// Backend-initiated messages are attributed as follows:
//   - progress: exactly, through a token Argus substitutes per call;
//   - resources/updated: to the client sessions subscribed to the URI;
//   - sampling, elicitation, roots and log messages: to the client call in
//     flight on this link when there is exactly one; on a per-client link
//     to its owner in any case; otherwise (a shared link with several
//     calls in flight) they cannot be attributed, so requests are refused
//     with an error and log messages are kept in Argus's log, never sent to
//     a client that may not own them.
type Link struct {
	env   Env
	cfg   config.Backend
	log   hclog.Logger
	owner *mcp.ServerSession // nil for a shared link

	mu      sync.Mutex
	conn    *backend.Conn
	calls   map[*Inflight]struct{}
	byToken map[string]*Inflight
	level   mcp.LoggingLevel // log level last set on the backend
	// logs holds, in wire order, where each log notification read off the
	// wire goes; attributed on read, because by the time the SDK hands it
	// to relayLog the call it belongs to may have returned.
	logs []logTarget
	// sendBackend is the backend client's sending handler, for
	// notifications the SDK client has no method for.
	sendBackend mcp.MethodHandler
	// subscriptions counts the resource subscriptions of a per-client
	// link's client, which keep the link from being reaped as idle.
	subscriptions int
}

// Inflight is one client call forwarded over a link.
type Inflight struct {
	ctx         context.Context // the client request's context
	session     *mcp.ServerSession
	clientToken any    // the client's progress token, nil if none
	token       string // the token the backend sees
	pending     int    // notifications and requests owed to the client, not yet relayed
	// stateless is set for a client of revision 2026-07-28 or newer, which
	// declares its capabilities per request (caps) and cannot be sent
	// requests while a call is in flight.
	stateless bool
	caps      *mcp.ClientCapabilities
	// missing lists the backend requests (by method) refused because the
	// client did not declare their capability; guarded by link.mu.
	missing []string
	// round is set for a stateless client's call: the backend's requests
	// for input go to the client as InputRequiredResults through it
	// (SEP-2322) instead of as requests. ctx and session then change with
	// each retry of the call (guarded by link.mu).
	round *rounds.Call
}

// Reattach points a multi-round-trip call's relaying (progress, log
// messages) at the client request now waiting on it: its context, session
// and progress token (nil when the retry asked for no progress, which
// then is not relayed).
func (l *Link) Reattach(inf *Inflight, ctx context.Context, ss *mcp.ServerSession, progressToken any) {
	l.mu.Lock()
	inf.ctx, inf.session, inf.clientToken = ctx, ss, progressToken
	l.mu.Unlock()
}

// parked reports whether inf is a multi-round-trip call waiting for its
// client's retry: its backend has asked already and is waiting for the
// answers, so a new backend request is not attributed to it.
func (inf *Inflight) parked() bool { return inf.round != nil && inf.round.Parked() }

// MissingCapabilities is the -32021 error the call ends with when the
// backend asked for a capability the client did not declare, or nil.
func (l *Link) MissingCapabilities(inf *Inflight) *jsonrpc.Error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(inf.missing) == 0 {
		return nil
	}
	return revision.MissingCapability(inf.missing...)
}

// Env is what links relay to and report with, shared by every link of a
// gateway.
type Env struct {
	// Version is reported to backends as Argus's version.
	Version string
	// Log is the gateway's logger; a link logs under "backend".
	Log hclog.Logger
	// Panics records panics recovered while serving backend messages.
	Panics *request.Panics
	// Server is the client-facing MCP server: log messages not sent
	// during a call go to all its sessions, resource updates to their
	// subscribers.
	Server *mcp.Server
	// Notify sends a notification the SDK has no method for to one
	// client session.
	Notify func(ctx context.Context, ss *mcp.ServerSession, method string, req mcp.Request)
	// BeforeMessage, if set, is called with the method of each backend
	// message at the top of the goroutine serving it (tests use it to
	// prove a panic there is recovered).
	BeforeMessage func(method string)
}

// New returns an unconnected link to the backend cfg, for the client
// session owner (a per-client link) or for every client (owner nil, a
// shared link). SetConn connects it.
func New(env Env, cfg config.Backend, owner *mcp.ServerSession) *Link {
	return &Link{
		env: env, cfg: cfg, owner: owner,
		log:     env.Log.Named("backend").With("backend", cfg.Name),
		calls:   map[*Inflight]struct{}{},
		byToken: map[string]*Inflight{},
	}
}

// Conn is the link's backend connection, nil before it connected.
func (l *Link) Conn() *backend.Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conn
}

// SetConn sets (or, with nil, clears) the link's backend connection.
func (l *Link) SetConn(c *backend.Conn) {
	l.mu.Lock()
	l.conn = c
	l.mu.Unlock()
}

// Options are the backend options whose handlers relay through this link.
func (l *Link) Options(onListChanged func()) backend.Options {
	caps := &mcp.ClientCapabilities{
		Sampling:    &mcp.SamplingCapabilities{},
		Elicitation: &mcp.ElicitationCapabilities{Form: &mcp.FormElicitationCapabilities{}, URL: &mcp.URLElicitationCapabilities{}},
	}
	caps.Roots.ListChanged = true
	if l.owner != nil {
		// A per-client link promises the backend exactly what its client
		// can do.
		if ip := l.owner.InitializeParams(); ip != nil && ip.Capabilities != nil {
			caps = ip.Capabilities
		}
	}
	changed := func(context.Context) {
		if onListChanged != nil {
			onListChanged()
		}
	}
	return backend.Options{
		Logger: l.log,
		Client: &mcp.Implementation{Name: "argus", Version: l.env.Version},
		ClientOptions: &mcp.ClientOptions{
			Logger:                        slogOf(l.log),
			Capabilities:                  caps,
			ToolListChangedHandler:        func(ctx context.Context, _ *mcp.ToolListChangedRequest) { changed(ctx) },
			PromptListChangedHandler:      func(ctx context.Context, _ *mcp.PromptListChangedRequest) { changed(ctx) },
			ResourceListChangedHandler:    func(ctx context.Context, _ *mcp.ResourceListChangedRequest) { changed(ctx) },
			ProgressNotificationHandler:   l.relayProgress,
			LoggingMessageHandler:         l.relayLog,
			ResourceUpdatedHandler:        l.relayResourceUpdated,
			CreateMessageWithToolsHandler: l.relaySampling,
			// Input requests in a backend's results (SEP-2322) are relayed
			// by the router (Exchange), to the client the call belongs to; the SDK's own
			// handling would answer them with Argus's roots and handlers.
			MultiRoundTrip: &mcp.MultiRoundTripOptions{Disabled: true},
		},
		Middleware: l.intercept,
		OnRead:     l.onRead,
		OnClient: func(c *mcp.Client) {
			c.AddSendingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
				l.mu.Lock()
				l.sendBackend = next
				l.mu.Unlock()
				return next
			})
		},
	}
}

// Begin registers a call about to be forwarded and returns the params to
// send (round is the call's multi-round-trip state, nil for a client
// that can be sent requests): a copy whose progress token, if the client gave one, is replaced
// by a token unique to this call, so that two clients using the same token
// never see each other's progress.
func (l *Link) Begin(ctx context.Context, c *request.Call, params mcp.Params, round *rounds.Call) *Inflight {
	inf := &Inflight{ctx: ctx, session: c.Session, stateless: revision.IsStateless(c.ProtocolVersion), caps: c.ClientCapabilities, round: round}
	if meta := request.Meta(params); meta != nil {
		if tok, ok := meta["progressToken"]; ok && tok != nil {
			inf.clientToken = tok
			inf.token = "argus-" + uuid.NewString()
			m := maps.Clone(meta)
			m["progressToken"] = inf.token
			params.SetMeta(m)
		}
	}
	l.mu.Lock()
	l.calls[inf] = struct{}{}
	if inf.token != "" {
		l.byToken[inf.token] = inf
	}
	l.mu.Unlock()
	return inf
}

// End unregisters a finished call. Progress notifications the backend sent
// before its response may still be queued in the SDK when the response
// arrives; end waits (briefly) until those have been relayed, so the
// client sees them before the result.
func (l *Link) End(inf *Inflight) {
	deadline := time.Now().Add(2 * time.Second)
	for {
		l.mu.Lock()
		if inf.pending == 0 || time.Now().After(deadline) {
			delete(l.calls, inf)
			if inf.token != "" {
				delete(l.byToken, inf.token)
			}
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
}

// logTarget is where one log notification goes: a call's client, every
// client (not tied to a call), or nowhere (not attributable).
type logTarget struct {
	inf       *Inflight
	broadcast bool
}

// onRead sees messages as they arrive off the wire, before the SDK
// dispatches them: it attributes log notifications while the set of calls
// in flight is still the one they were sent in, and counts notifications
// owed to a call so that end waits until they are relayed.
func (l *Link) onRead(msg jsonrpc.Message) {
	// Runs on the SDK's reader goroutine: a panic here would end the
	// process, so it only costs this message its attribution.
	defer func() {
		if v := recover(); v != nil {
			l.env.Panics.Recovered(v, "backend message", "backend", l.cfg.Name)
		}
	}()
	req, ok := msg.(*jsonrpc.Request)
	if !ok || req.IsCall() {
		return
	}
	switch req.Method {
	case "notifications/progress":
		var p struct {
			ProgressToken any `json:"progressToken"`
		}
		if json.Unmarshal(req.Params, &p) != nil {
			return
		}
		tok, _ := p.ProgressToken.(string)
		l.mu.Lock()
		if inf := l.byToken[tok]; inf != nil {
			inf.pending++
		}
		l.mu.Unlock()
	case "notifications/message":
		var p mcp.LoggingMessageParams
		if json.Unmarshal(req.Params, &p) != nil {
			return // the SDK will not dispatch it either
		}
		l.mu.Lock()
		t := logTarget{}
		switch {
		case len(l.calls) == 1 || (l.owner != nil && len(l.calls) > 0):
			for inf := range l.calls {
				t.inf = inf
				break
			}
			t.inf.pending++
		case len(l.calls) == 0:
			t.broadcast = true
		}
		l.logs = append(l.logs, t)
		l.mu.Unlock()
	}
}

func (l *Link) relayProgress(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
	tok, _ := req.Params.ProgressToken.(string)
	l.mu.Lock()
	inf := l.byToken[tok]
	var ctx context.Context
	var ss *mcp.ServerSession
	var clientToken any
	if inf != nil {
		ctx, ss, clientToken = inf.ctx, inf.session, inf.clientToken
	}
	l.mu.Unlock()
	if inf == nil {
		l.log.Debug("progress for no call in flight; dropped", "token", req.Params.ProgressToken)
		return
	}
	p := *req.Params
	p.ProgressToken = clientToken
	if clientToken == nil {
		// A later round of a multi-round-trip call whose retry carries no
		// progress token.
		l.log.Debug("progress for a request that asked for none; dropped", "token", req.Params.ProgressToken)
	} else if err := ss.NotifyProgress(ctx, &p); err != nil {
		l.log.Debug("relaying progress failed", "session", ss.ID(), "error", err)
	}
	l.mu.Lock()
	inf.pending--
	l.mu.Unlock()
}

// acquire finds the client a backend-initiated request belongs to (see
// the type comment); ok is false when it cannot be attributed. While the
// request is relayed the call it belongs to does not finish (end waits),
// so that a cancellation the backend sends before its final answer still
// reaches the client on that call's stream. release must be called when
// the relay is done.
func (l *Link) acquire() (ctx context.Context, ss *mcp.ServerSession, call *Inflight, release func(), ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// A parked multi-round-trip call has asked already and waits for its
	// client's retry: it is not a candidate unless it is the only call.
	var inf *Inflight
	var active []*Inflight
	for c := range l.calls {
		if !c.parked() {
			active = append(active, c)
		}
	}
	switch {
	case len(active) == 1 || (l.owner != nil && len(active) > 0):
		inf = active[0]
	case len(l.calls) == 1 || (l.owner != nil && len(l.calls) > 0):
		for c := range l.calls {
			inf = c
			break
		}
	}
	switch {
	case inf != nil:
		inf.pending++
		return inf.ctx, inf.session, inf, func() {
			l.mu.Lock()
			inf.pending--
			l.mu.Unlock()
		}, true
	case l.owner != nil:
		return context.Background(), l.owner, nil, func() {}, true
	}
	return nil, nil, nil, nil, false
}

// undeclared refuses a backend request on behalf of a stateless client
// that did not declare the capability it needs: the backend gets -32021
// and the call is marked to end with it (SEP-2663). It returns nil when
// the request may go on.
func (l *Link) undeclared(inf *Inflight, method string) error {
	if inf == nil || !inf.stateless || revision.Declares(inf.caps, method) {
		return nil
	}
	l.mu.Lock()
	if !slices.Contains(inf.missing, method) {
		inf.missing = append(inf.missing, method)
	}
	l.mu.Unlock()
	return revision.MissingCapability(method)
}

// lingerIfCancelled holds a relay that the backend cancelled for a moment
// before the call it belongs to may finish. The SDK sends the client its
// notifications/cancelled from a goroutine after the request returns; the
// call's response stream must still be open when it does.
func lingerIfCancelled(backendCtx context.Context) {
	if backendCtx.Err() != nil {
		time.Sleep(50 * time.Millisecond)
	}
}

var errUnattributable = &jsonrpc.Error{Code: -32603, Message: "argus: cannot tell which client this request belongs to " +
	"(several client calls are in flight on a shared backend session; set session_mode = \"per-client\" on this backend)"}

// relayCtx derives a context that carries the client call's values (so the
// SDK sends on that call's stream) and ends when the backend abandons its
// request (so cancellation reaches the client).
func relayCtx(client, backend context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(client)
	stop := context.AfterFunc(backend, cancel)
	return ctx, func() { stop(); cancel() }
}

func (l *Link) relaySampling(ctx context.Context, req *mcp.CreateMessageWithToolsRequest) (*mcp.CreateMessageWithToolsResult, error) {
	res, err := l.relay(ctx, req.Params)
	if err != nil {
		return nil, err
	}
	switch r := res.(type) {
	case *mcp.CreateMessageWithToolsResult:
		return r, nil
	case *mcp.CreateMessageResult:
		return &mcp.CreateMessageWithToolsResult{Meta: r.Meta, Content: []mcp.Content{r.Content}, Model: r.Model, Role: r.Role, StopReason: r.StopReason}, nil
	}
	return nil, &jsonrpc.Error{Code: request.CodeInternalError, Message: fmt.Sprintf("argus: the client answered sampling with %T", res)}
}

// intercept is the backend client's receiving middleware, the top of
// everything the SDK runs for a backend message in its per-message
// goroutine: a panic while relaying is recovered here, answered (for a
// request) with a JSON-RPC internal error, logged and counted.
//
// It also answers the backend requests no ClientOptions handler relays
// faithfully:
//   - roots/list: the SDK client would answer with its own (empty) roots;
//   - elicitation/create: the SDK client's handler validates the requested
//     schema first and refuses some the specification allows (enums given
//     as anyOf with titles); the client, not Argus, is the judge of that.
func (l *Link) intercept(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (res mcp.Result, err error) {
		defer func() {
			if v := recover(); v != nil {
				res, err = nil, l.env.Panics.Recovered(v, "backend message", "backend", l.cfg.Name, "method", method).Wire
			}
		}()
		if l.env.BeforeMessage != nil {
			l.env.BeforeMessage(method)
		}
		var p mcp.InputRequest
		switch rp := req.GetParams().(type) {
		case *mcp.ListRootsParams:
			p = rp
			if rp == nil {
				p = &mcp.ListRootsParams{}
			}
		case *mcp.ElicitParams:
			p = rp
		}
		if (method != "roots/list" && method != "elicitation/create") || request.IsNil(p) {
			return next(ctx, method, req)
		}
		answer, err := l.relay(ctx, p)
		if err != nil {
			return nil, err
		}
		if r, ok := answer.(mcp.Result); ok {
			return r, nil
		}
		return nil, &jsonrpc.Error{Code: request.CodeInternalError, Message: fmt.Sprintf("argus: the client answered %s with %T", method, answer)}
	}
}

// relay gets the client's answer to a request the backend sent (ctx is
// the backend request's) during a client call.
func (l *Link) relay(ctx context.Context, p mcp.InputRequest) (mcp.InputResponse, error) {
	cctx, ss, inf, release, ok := l.acquire()
	if !ok {
		return nil, errUnattributable
	}
	defer release()
	return l.ask(ctx, cctx, ss, inf, "", p)
}

// ask gets the client's answer to one request for input the backend made
// during inf's call (inf is nil for a per-client link's request outside a
// call): as a server-to-client request over the client's session, or, for
// a stateless client, as an input request of the call's next
// InputRequiredResult (SEP-2322), named key when possible. backendCtx ends
// when the backend abandons its request; clientCtx carries the client
// call's values.
func (l *Link) ask(backendCtx, clientCtx context.Context, ss *mcp.ServerSession, inf *Inflight, key string, p mcp.InputRequest) (mcp.InputResponse, error) {
	method := rounds.MethodOf(p)
	if err := l.undeclared(inf, method); err != nil {
		return nil, err
	}
	if inf != nil && inf.round != nil {
		return inf.round.Ask(backendCtx, key, p)
	}
	rctx, cancel := relayCtx(clientCtx, backendCtx)
	defer cancel()
	defer lingerIfCancelled(backendCtx)
	switch p := p.(type) {
	case *mcp.ListRootsParams:
		return ss.ListRoots(rctx, p)
	case *mcp.ElicitParams:
		return ss.Elicit(rctx, p)
	case *mcp.CreateMessageWithToolsParams:
		return ss.CreateMessageWithTools(rctx, p)
	case *mcp.CreateMessageParams:
		return ss.CreateMessage(rctx, p)
	}
	return nil, &jsonrpc.Error{Code: request.CodeInvalidParams, Message: fmt.Sprintf("argus: cannot relay an input request of type %T", p)}
}

func (l *Link) relayLog(_ context.Context, req *mcp.LoggingMessageRequest) {
	l.mu.Lock()
	var t logTarget
	if len(l.logs) > 0 {
		t, l.logs = l.logs[0], l.logs[1:]
	}
	l.mu.Unlock()
	var ctx context.Context
	var ss *mcp.ServerSession
	if t.inf != nil {
		l.mu.Lock()
		ctx, ss = t.inf.ctx, t.inf.session
		l.mu.Unlock()
	}
	switch {
	case t.inf != nil:
		if err := ss.Log(ctx, req.Params); err != nil {
			l.log.Debug("relaying log message failed", "session", ss.ID(), "error", err)
		}
		l.mu.Lock()
		t.inf.pending--
		l.mu.Unlock()
	case l.owner != nil:
		l.owner.Log(context.Background(), req.Params)
	case t.broadcast:
		// Not sent during any call: it concerns every client of the backend.
		for s := range l.env.Server.Sessions() {
			s.Log(context.Background(), req.Params)
		}
	default:
		l.log.Debug("backend log message not attributable to one client; kept here",
			"level", req.Params.Level, "logger", req.Params.Logger, "data", req.Params.Data)
	}
}

func (l *Link) relayResourceUpdated(ctx context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
	if req.Params == nil {
		l.log.Debug("resources/updated without params; dropped")
		return
	}
	if l.owner != nil {
		l.env.Notify(ctx, l.owner, "notifications/resources/updated",
			&mcp.ServerRequest[*mcp.ResourceUpdatedNotificationParams]{Session: l.owner, Params: req.Params})
		return
	}
	if err := l.env.Server.ResourceUpdated(ctx, req.Params); err != nil {
		l.log.Debug("relaying resources/updated failed", "uri", req.Params.URI, "error", err)
	}
}

// SetLevel asks the backend for log messages at level and above, if it
// offers logging and the level differs from the one last set.
func (l *Link) SetLevel(ctx context.Context, level mcp.LoggingLevel) {
	conn := l.Conn()
	if conn == nil || level == "" {
		return
	}
	if caps := conn.Session().InitializeResult().Capabilities; caps == nil || caps.Logging == nil {
		return
	}
	if revision.IsStateless(conn.ProtocolVersion()) {
		return // no logging/setLevel: each request carries its level (see forward)
	}
	l.mu.Lock()
	same := l.level == level
	l.level = level
	l.mu.Unlock()
	if same {
		return
	}
	if err := conn.Session().SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: level}); err != nil {
		l.log.Debug("forwarding logging/setLevel failed", "level", level, "error", err)
	}
}

// NotifyRootsChanged tells the backend its client's roots changed.
func (l *Link) NotifyRootsChanged(ctx context.Context) {
	conn := l.Conn()
	l.mu.Lock()
	send := l.sendBackend
	l.mu.Unlock()
	if conn == nil || send == nil {
		return
	}
	_, err := send(ctx, "notifications/roots/list_changed",
		&mcp.ClientRequest[*mcp.RootsListChangedParams]{Session: conn.Session(), Params: &mcp.RootsListChangedParams{}})
	if err != nil {
		l.log.Debug("forwarding roots/list_changed failed", "error", err)
	}
}

// maxBackendRounds bounds how often one backend request may answer with
// input requests before Argus gives up (as the SDK's client does).
const maxBackendRounds = 10

// Exchange makes one backend request; when the backend's result asks for
// input (SEP-2322: a backend of revision 2026-07-28, or an older one whose
// SDK asks again after a first round), it gets the answers from the client
// the call belongs to and repeats the request with them.
func (l *Link) Exchange(ctx context.Context, inf *Inflight, params mcp.Params, do func(context.Context) (mcp.Result, error)) (mcp.Result, error) {
	for n := 0; ; n++ {
		res, err := do(ctx)
		if err != nil {
			return nil, err
		}
		reqs, state := inputRequestsOf(res)
		switch {
		case reqs == nil:
			return res, nil
		case len(reqs) == 0:
			return nil, &jsonrpc.Error{Code: request.CodeInternalError, Message: "the backend is busy (empty inputRequests); retry later"}
		case n >= maxBackendRounds:
			return nil, &jsonrpc.Error{Code: request.CodeInternalError, Message: fmt.Sprintf("the backend asked for input more than %d times", maxBackendRounds)}
		}
		answers, err := l.fulfil(ctx, inf, reqs)
		if err != nil {
			return nil, err
		}
		SetRetry(params, answers, state)
	}
}

// fulfil gets the client's answers to a backend result's input requests,
// all at once.
func (l *Link) fulfil(ctx context.Context, inf *Inflight, reqs mcp.InputRequestMap) (mcp.InputResponseMap, error) {
	l.mu.Lock()
	cctx, ss := inf.ctx, inf.session
	l.mu.Unlock()
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		first error
	)
	out := make(mcp.InputResponseMap, len(reqs))
	for key, p := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := l.ask(ctx, cctx, ss, inf, key, p)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = err
				}
				return
			}
			out[key] = r
		}()
	}
	wg.Wait()
	return out, first
}

func inputRequestsOf(res mcp.Result) (mcp.InputRequestMap, string) {
	switch r := res.(type) {
	case *mcp.CallToolResult:
		if r != nil {
			return r.InputRequests, r.RequestState
		}
	case *mcp.GetPromptResult:
		if r != nil {
			return r.InputRequests, r.RequestState
		}
	case *mcp.ReadResourceResult:
		if r != nil {
			return r.InputRequests, r.RequestState
		}
	}
	return nil, ""
}

// SetRetry sets the input responses and request state of a retried
// tools/call, prompts/get or resources/read.
func SetRetry(p mcp.Params, responses mcp.InputResponseMap, state string) {
	switch p := p.(type) {
	case *mcp.CallToolParams:
		p.InputResponses, p.RequestState = responses, state
	case *mcp.GetPromptParams:
		p.InputResponses, p.RequestState = responses, state
	case *mcp.ReadResourceParams:
		p.InputResponses, p.RequestState = responses, state
	}
}

// Owner is the client session a per-client link serves; nil for a shared
// link.
func (l *Link) Owner() *mcp.ServerSession { return l.owner }

// Log is the link's logger.
func (l *Link) Log() hclog.Logger { return l.log }

// Busy reports whether l has requests in flight or resource subscriptions.
func (l *Link) Busy() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.calls) > 0 || l.subscriptions > 0
}

// Subscribed counts a resource subscription of a per-client link's client
// (delta +1) or its end (-1); a link with subscriptions is never idle.
func (l *Link) Subscribed(delta int) {
	l.mu.Lock()
	l.subscriptions = max(l.subscriptions+delta, 0)
	l.mu.Unlock()
}

func slogOf(l hclog.Logger) *slog.Logger { return logging.Slog(l.Named("mcp")) }
