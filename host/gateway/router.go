package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/backend"
	"github.com/argusmcp/argus/host/catalog"
	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/relay"
	"github.com/argusmcp/argus/host/request"
	"github.com/argusmcp/argus/host/revision"
	"github.com/argusmcp/argus/host/rounds"
)

// routedMethods are served by Argus from its catalogue instead of the SDK.
var routedMethods = map[string]bool{
	"tools/list": true, "tools/call": true,
	"resources/list": true, "resources/templates/list": true, "resources/read": true,
	"prompts/list": true, "prompts/get": true,
	"completion/complete": true,
}

// intercept is the MCP server's receiving middleware: aggregated methods
// leave the SDK here and run through Argus's chain; everything else
// (initialize, ping, notifications, logging/setLevel) stays with the SDK.
//
// It is the top of everything the SDK runs for a client message, in the
// SDK's own per-request goroutine, so it is where a panic is recovered at
// the latest: the client gets a JSON-RPC internal error, the call is
// observed (audited, traced) once as an internal error, and the process
// carries on.
func (g *Gateway) intercept(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (res mcp.Result, err error) {
		var c *request.Call
		defer func() {
			if v := recover(); v != nil {
				res, err = nil, g.recovered(ctx, v, method, req, c)
			}
		}()
		if testPanicHook != nil {
			testPanicHook(hookClientRequest, method)
		}
		if !routedMethods[method] {
			res, err := next(ctx, method, req)
			if method == "logging/setLevel" && err == nil {
				if p, ok := req.GetParams().(*mcp.SetLoggingLevelParams); ok && p != nil {
					ss, _ := req.GetSession().(*mcp.ServerSession)
					g.setClientLevel(ctx, ss, p.Level)
				}
			}
			return res, err
		}
		c = NewCall(ctx, method, req)
		g.users.note(g, c)
		res, err = g.chain.Run(ctx, c)
		if err != nil {
			if c.Outcome == request.OutcomeTransport || c.Outcome == request.OutcomeTimeout {
				g.log.Warn("request failed", "method", method, "capability", c.Capability, "backend", c.Backend, "request_id", c.ID, "user", c.UserID, "error", err)
			}
			return nil, revision.Error(c.ProtocolVersion, g.redacted(request.Wire(err)))
		}
		return g.shape.Result(c.ProtocolVersion, method, res), nil
	}
}

// redacted is err, a JSON-RPC error for a client, with Argus's secrets
// taken out of its message and data (Options.Redact); err itself when
// it has none.
func (g *Gateway) redacted(err error) error {
	w, ok := err.(*jsonrpc.Error)
	if !ok || w == nil {
		return err
	}
	msg := g.redact(w.Message)
	data := string(w.Data)
	if len(w.Data) > 0 {
		data = g.redact(data)
	}
	if msg == w.Message && data == string(w.Data) {
		return err
	}
	out := *w
	out.Message = msg
	if data != string(w.Data) {
		// A secret that took JSON's structure with it leaves data that
		// is not JSON (never a leak): then there is none.
		out.Data = nil
		if json.Valid([]byte(data)) {
			out.Data = json.RawMessage(data)
		}
	}
	return &out
}

// recovered handles a panic recovered in intercept: it is logged and
// counted, an aggregated call the chain has not yet observed is observed
// as an internal error, and the client is answered with one.
func (g *Gateway) recovered(ctx context.Context, v any, method string, req mcp.Request, c *request.Call) error {
	e := g.panics.Recovered(v, "client request", "method", method)
	if routedMethods[method] && (c == nil || !c.Observed()) {
		if c == nil {
			c = safeNewCall(ctx, method, req)
		}
		g.chain.Fail(ctx, c, e)
	}
	return e.Wire
}

// safeNewCall is NewCall for a request whose serving panicked: if NewCall
// panics too, the call is known by its method alone.
func safeNewCall(ctx context.Context, method string, req mcp.Request) (c *request.Call) {
	defer func() {
		if recover() != nil {
			c = &request.Call{ID: uuid.NewString(), Method: method}
		}
	}()
	return NewCall(ctx, method, req)
}

// NewCall builds the request context of an MCP request from what the SDK
// and the transport (request.Facts) carry. On the SDK's path the facts
// come in the request's TokenInfo, the one thing of the transport's the
// SDK hands a handler; on the lean path, which has no SDK in between,
// they come in ctx, where the transport put them (a request on the SDK's
// path is never read from ctx: its handler's context may be its
// session's). A request without facts came through no transport of
// Argus's; it counts as stdio.
func NewCall(ctx context.Context, method string, req mcp.Request) *request.Call {
	c := &request.Call{ID: uuid.NewString(), Method: method, Params: req.GetParams()}
	if ss, ok := req.GetSession().(*mcp.ServerSession); ok && ss != nil {
		c.Session = ss
		c.SessionID = ss.ID()
		if ip := ss.InitializeParams(); ip != nil {
			c.ProtocolVersion = ip.ProtocolVersion
			if revision.IsStateless(ip.ProtocolVersion) {
				// The session of one request of the stateless revision: its
				// capabilities are those of the request's _meta, decoded
				// when the session was made.
				c.ClientCapabilities = ip.Capabilities
			}
		}
	}
	if r, ok := req.(interface {
		ClientCapabilities() *mcp.ClientCapabilities
	}); ok && c.Session != nil && c.ClientCapabilities == nil {
		c.ClientCapabilities = r.ClientCapabilities()
	}
	extra := req.GetExtra()
	var ok bool
	if c.Facts, ok = request.FactsOf(extra); !ok && extra != nil && extra.TokenInfo == nil {
		c.Facts, _ = request.FactsFrom(ctx)
	}
	if c.Transport == "" {
		c.Transport = request.TransportStdio
	}
	if extra != nil {
		c.Header = extra.Header
	}
	switch p := c.Params.(type) {
	case *mcp.CallToolParamsRaw:
		if p != nil {
			c.Capability = p.Name
		}
	case *mcp.GetPromptParams:
		if p != nil {
			c.Capability = p.Name
		}
	case *mcp.ReadResourceParams:
		if p != nil {
			c.Capability = p.URI
		}
	case *mcp.CompleteParams:
		if p != nil && p.Ref != nil {
			c.Capability = p.Ref.Name + p.Ref.URI
		}
	}
	return c
}

// route is the terminal handler of the chain: it answers list methods from
// the catalogue snapshot and forwards the rest to the owning backend.
func (g *Gateway) route(ctx context.Context, c *request.Call) (mcp.Result, error) {
	snap := g.catalog.Snapshot()
	switch c.Method {
	case "tools/list":
		if err := checkCursor(c.Params); err != nil {
			return nil, err
		}
		return &mcp.ListToolsResult{Tools: nonNil(snap.Tools())}, nil
	case "resources/list":
		if err := checkCursor(c.Params); err != nil {
			return nil, err
		}
		return &mcp.ListResourcesResult{Resources: nonNil(snap.Resources())}, nil
	case "resources/templates/list":
		if err := checkCursor(c.Params); err != nil {
			return nil, err
		}
		return &mcp.ListResourceTemplatesResult{ResourceTemplates: nonNil(snap.Templates())}, nil
	case "prompts/list":
		if err := checkCursor(c.Params); err != nil {
			return nil, err
		}
		return &mcp.ListPromptsResult{Prompts: nonNil(snap.Prompts())}, nil

	case "tools/call":
		p, ok := c.Params.(*mcp.CallToolParamsRaw)
		if !ok || p == nil {
			return nil, errMissingParams(c.Method)
		}
		r, ok := snap.Tool(p.Name)
		if !ok {
			return nil, request.Errorf(request.OutcomeNotFound, request.CodeInvalidParams, "unknown tool %q", p.Name)
		}
		fwd := &mcp.CallToolParams{Meta: p.Meta, Name: r.Name, InputResponses: p.InputResponses, RequestState: p.RequestState}
		if len(p.Arguments) > 0 {
			fwd.Arguments = p.Arguments // raw JSON, forwarded byte for byte
		}
		// A result passed on as the backend wrote it is shaped for a
		// client of the stateless revision too (revision.RawTool).
		return forward(ctx, g, c, r.Backend, r.Name, fwd, func(ctx context.Context, conn *backend.Conn) (mcp.Result, error) {
			if conn.RawCalls() {
				return conn.CallTool(ctx, fwd)
			}
			return conn.Session().CallTool(ctx, fwd)
		})
	case "prompts/get":
		p, ok := c.Params.(*mcp.GetPromptParams)
		if !ok || p == nil {
			return nil, errMissingParams(c.Method)
		}
		r, ok := snap.Prompt(p.Name)
		if !ok {
			return nil, request.Errorf(request.OutcomeNotFound, request.CodeInvalidParams, "unknown prompt %q", p.Name)
		}
		fwd := *p
		fwd.Name = r.Name
		return forward(ctx, g, c, r.Backend, r.Name, &fwd, func(ctx context.Context, conn *backend.Conn) (*mcp.GetPromptResult, error) {
			if conn.RawCalls() {
				return conn.GetPrompt(ctx, &fwd)
			}
			return conn.Session().GetPrompt(ctx, &fwd)
		})
	case "resources/read":
		p, ok := c.Params.(*mcp.ReadResourceParams)
		if !ok || p == nil {
			return nil, errMissingParams(c.Method)
		}
		r, ok := snap.Resource(p.URI)
		if !ok {
			return nil, resourceNotFound(p.URI)
		}
		fwd := *p
		return forward(ctx, g, c, r.Backend, r.Name, &fwd, func(ctx context.Context, conn *backend.Conn) (*mcp.ReadResourceResult, error) {
			if conn.RawCalls() {
				return conn.ReadResource(ctx, &fwd)
			}
			return conn.Session().ReadResource(ctx, &fwd)
		})
	case "completion/complete":
		p, ok := c.Params.(*mcp.CompleteParams)
		if !ok || p == nil || p.Ref == nil {
			return nil, errMissingParams(c.Method)
		}
		fwd := *p
		ref := *p.Ref
		fwd.Ref = &ref
		var r catalog.Route
		switch ref.Type {
		case "ref/prompt":
			if r, ok = snap.Prompt(ref.Name); !ok {
				return nil, request.Errorf(request.OutcomeNotFound, request.CodeInvalidParams, "unknown prompt %q", ref.Name)
			}
			ref.Name = r.Name
		case "ref/resource":
			if r, ok = snap.Template(ref.URI); !ok {
				r, ok = snap.Resource(ref.URI)
			}
			if !ok {
				return nil, request.Errorf(request.OutcomeNotFound, request.CodeInvalidParams, "unknown resource %q", ref.URI)
			}
		default:
			return nil, request.Errorf(request.OutcomeNotFound, request.CodeInvalidParams, "unsupported completion ref type %q", ref.Type)
		}
		return forward(ctx, g, c, r.Backend, r.Name, &fwd, func(ctx context.Context, conn *backend.Conn) (*mcp.CompleteResult, error) {
			return conn.Session().Complete(ctx, &fwd)
		})
	}
	return nil, request.Errorf(request.OutcomeInternal, request.CodeInternalError, "method %q is not routable", c.Method)
}

// limitTraceContext removes from params' _meta what of the client's trace
// context a backend configured with propagation (trace_propagation) is
// not to see. Telemetry's CLIENT span puts its own in afterwards, as much
// as propagation allows.
func limitTraceContext(params mcp.Params, propagation string) {
	if propagation != config.PropagateTrace && propagation != config.PropagateNone {
		return
	}
	// WithoutTraceContext returns meta itself when it drops nothing, a
	// smaller copy (or nil) otherwise.
	if meta := params.GetMeta(); meta != nil {
		if out := request.WithoutTraceContext(meta, propagation == config.PropagateTrace); len(out) != len(meta) {
			params.SetMeta(out)
		}
	}
}

func errMissingParams(method string) error {
	return request.Errorf(request.OutcomeNotFound, request.CodeInvalidParams, "%s: missing params", method)
}

// forward sends one request to backend under its call timeout, relaying
// what the backend sends meanwhile (progress, sampling, ...) to the calling
// client, and maps failures to outcomes: the backend's JSON-RPC errors pass
// through as they are; a lost connection, a timeout and a client
// cancellation each get their own error. params must be a copy the router
// owns: its progress token is replaced for the backend.
//
// For a client of revision 2026-07-28 or newer the backend call runs
// detached from the client's request, so that it can outlive it: when the
// backend asks for input, the request ends with an InputRequiredResult and
// the client's retry (carrying Argus's requestState) picks the same backend
// call up again (see resume and host/rounds).
func forward[R mcp.Result](ctx context.Context, g *Gateway, c *request.Call, backendName, original string, params mcp.Params, do func(context.Context, *backend.Conn) (R, error)) (mcp.Result, error) {
	c.Backend, c.OriginalName = backendName, original
	stateless := revision.IsStateless(c.ProtocolVersion)
	if responses, state := retryOf(params); stateless && state != "" {
		return g.resume(ctx, c, state, responses, request.Meta(params)["progressToken"])
	}
	// Input responses without Argus's state answer nothing Argus asked;
	// the backend never sees the client's side of a multi-round-trip.
	relay.SetRetry(params, nil, "")
	l, err := g.Link(ctx, c.Session, backendName)
	if err != nil {
		var limit *request.Error
		switch {
		case ctx.Err() != nil:
			return nil, backendError(ctx, ctx, backendName, 0, err)
		case errors.As(err, &limit):
			return nil, limit
		}
		return nil, &request.Error{Outcome: request.OutcomeTransport, Err: backend.RedactURL(err),
			Wire: &jsonrpc.Error{Code: request.CodeBackendUnavailable, Message: fmt.Sprintf("backend %q is unavailable", backendName)}}
	}
	conn := l.Conn()
	if conn == nil {
		return nil, request.Errorf(request.OutcomeTransport, request.CodeBackendUnavailable, "backend %q is unavailable", backendName)
	}
	if v := conn.ProtocolVersion(); v != "" {
		meta := revision.WithLogLevel(revision.ForBackend(params.GetMeta(), v), v, g.clientLevel(c.Session))
		if meta != nil || params.GetMeta() != nil {
			params.SetMeta(meta)
		}
	}
	cfg := conn.Config()
	propagation := g.TracePropagation(backendName, cfg.TracePropagation)
	limitTraceContext(params, propagation)
	timeout := cfg.CallTimeout
	// run makes the backend call under cctx; parent is the context whose
	// end means the caller gave up.
	run := func(parent, cctx context.Context, inf *relay.Inflight) (mcp.Result, error) {
		var done func(mcp.Result, error)
		if c.BackendHook != nil {
			cctx, done = c.BackendHook(cctx, c, request.Backend{Name: cfg.Name, Type: cfg.Type, URL: cfg.URL, Command: cfg.Command, TracePropagation: propagation}, params)
		}
		res, err := l.Exchange(cctx, inf, params, func(ctx context.Context) (mcp.Result, error) {
			r, err := do(ctx, conn)
			if err != nil {
				return nil, err
			}
			return r, nil
		})
		if err != nil {
			err = backendError(parent, cctx, backendName, timeout, err)
		}
		if missing := l.MissingCapabilities(inf); missing != nil {
			// The backend asked the client for something it cannot do; what the
			// backend made of Argus's refusal is not the client's answer.
			res, err = nil, &request.Error{Outcome: request.OutcomeRPCError, Wire: missing}
		}
		if done != nil {
			done(res, err)
		}
		return res, err
	}
	if !stateless {
		inf := l.Begin(ctx, c, params, nil)
		defer l.End(inf)
		cctx, cancel := context.WithTimeout(revision.BackendContext(ctx), timeout)
		defer cancel()
		return run(ctx, cctx, inf)
	}
	// The backend call outlives this request when the backend asks for
	// input; it ends with its result or when the logical call is abandoned
	// (client gone, round expired, no progress within the call timeout).
	bctx, cancel := context.WithCancel(context.WithoutCancel(revision.BackendContext(ctx)))
	rc := g.rounds.Start(bindingOf(c), cancel)
	inf := l.Begin(ctx, c, params, rc)
	rcall := &roundCall{origin: c.ID, start: c.Start, l: l, inf: inf, timeout: timeout}
	rc.Value = rcall
	rc.Unclaimed = func(err error) { g.unclaimed(rcall, rc.Rounds(), err) }
	go func() {
		defer cancel()
		res, err := run(bctx, bctx, inf)
		// end first: it waits until the notifications the backend sent
		// before its answer reach the client request now waiting on the
		// call, which Finish lets go.
		l.End(inf)
		rc.Finish(res, err)
	}()
	return g.await(ctx, c, rc, timeout)
}

// clientLevel is the log level the client of ss set with
// logging/setLevel, "" if none (or no session).
func (g *Gateway) clientLevel(ss *mcp.ServerSession) mcp.LoggingLevel {
	if ss == nil {
		return ""
	}
	g.subMu.Lock()
	defer g.subMu.Unlock()
	return g.levels[ss]
}

// roundCall is what the router keeps with a multi-round-trip call.
type roundCall struct {
	origin  string    // request ID of the call's first request
	start   time.Time // when the first request began
	l       *relay.Link
	inf     *relay.Inflight
	timeout time.Duration

	mu   sync.Mutex
	last request.Call // the request that handed out the latest round
}

func (r *roundCall) setLast(c *request.Call) {
	r.mu.Lock()
	r.last = *c
	r.mu.Unlock()
}

// unclaimed records the end of a multi-round-trip call whose client did
// not retry after its latest round (the n-th): the round expired, or the
// gateway shut down. Observers see it once, as a call of the last
// request's client and capability that ended cancelled, with the logical
// call's rounds; without it the call would leave no mcp_operation event.
func (g *Gateway) unclaimed(r *roundCall, n int, err error) {
	r.mu.Lock()
	c := r.last
	r.mu.Unlock()
	if c.Method == "" {
		return // no round was handed out
	}
	c.ID, c.JSONRPCID = uuid.NewString(), ""
	c.Start, c.Result, c.Err = r.start, nil, nil
	c.InputRequired, c.Unclaimed = false, true
	c.Round, c.Rounds, c.LogicalID = n+1, n, r.origin
	c.BackendHook = nil
	msg := "the client did not retry within the round's expiry; the backend call was cancelled"
	if errors.Is(err, rounds.ErrClosed) {
		msg = "the gateway shut down while the call waited for the client's retry; the backend call was cancelled"
	}
	g.chain.Fail(context.Background(), &c, &request.Error{Outcome: request.OutcomeCancelled, Err: err,
		Wire: &jsonrpc.Error{Code: request.CodeRequestCancelled, Message: msg}})
}

// resume continues a multi-round-trip call on the client's retry, whose
// progress token (nil if none) the call's progress is relayed with from
// now on.
func (g *Gateway) resume(ctx context.Context, c *request.Call, state string, responses mcp.InputResponseMap, progressToken any) (mcp.Result, error) {
	// The call's relaying points at this retry before the backend gets
	// its answers: what the backend sends in reply (progress, log
	// messages) belongs to the retry, not to the request that has ended.
	rc, err := g.rounds.Resume(state, bindingOf(c), responses, func(rc *rounds.Call) {
		rcall := rc.Value.(*roundCall)
		rcall.l.Reattach(rcall.inf, ctx, c.Session, progressToken)
	})
	if err != nil {
		return nil, roundError(err, 0)
	}
	rcall := rc.Value.(*roundCall)
	c.LogicalID = rcall.origin
	return g.await(ctx, c, rc, rcall.timeout)
}

// await waits, for the client request ctx, until the call rc ends or asks
// for input, and records which round of the logical call this request is.
func (g *Gateway) await(ctx context.Context, c *request.Call, rc *rounds.Call, limit time.Duration) (mcp.Result, error) {
	out, err := rc.Wait(ctx, limit)
	n := rc.Rounds()
	switch {
	case err != nil:
		if n > 0 {
			c.Round, c.Rounds = n+1, n
		}
		return nil, roundError(err, limit)
	case out.Inputs != nil:
		c.InputRequired, c.Round = true, n
		if c.LogicalID == "" {
			c.LogicalID = c.ID
		}
		if rcall, ok := rc.Value.(*roundCall); ok {
			rcall.setLast(c)
		}
		return inputRequired(c.Method, out.Inputs, out.State), nil
	}
	if n > 0 {
		c.Round, c.Rounds = n+1, n
	}
	return out.Result, out.Err
}

// inputRequired is the InputRequiredResult of method (SEP-2322); the
// shaper gives it resultType "input_required".
func inputRequired(method string, inputs mcp.InputRequestMap, state string) mcp.Result {
	switch method {
	case "prompts/get":
		return &mcp.GetPromptResult{InputRequests: inputs, RequestState: state}
	case "resources/read":
		return &mcp.ReadResourceResult{InputRequests: inputs, RequestState: state}
	}
	return &mcp.CallToolResult{InputRequests: inputs, RequestState: state}
}

func roundError(err error, limit time.Duration) error {
	switch {
	case errors.Is(err, rounds.ErrInvalidState), errors.Is(err, rounds.ErrExpired):
		return &request.Error{Outcome: request.OutcomeNotFound, Err: err,
			Wire: &jsonrpc.Error{Code: request.CodeInvalidParams, Message: "invalid requestState: " + err.Error()}}
	case errors.Is(err, rounds.ErrLimit):
		return &request.Error{Outcome: request.OutcomeTransport, Err: err,
			Wire: &jsonrpc.Error{Code: request.CodeLimitReached, Message: err.Error()}}
	case errors.Is(err, rounds.ErrTimeout):
		return &request.Error{Outcome: request.OutcomeTimeout, Err: err,
			Wire: &jsonrpc.Error{Code: request.CodeBackendTimeout, Message: fmt.Sprintf("the backend neither answered nor asked for input within %s", limit)}}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &request.Error{Outcome: request.OutcomeCancelled, Err: err,
			Wire: &jsonrpc.Error{Code: request.CodeRequestCancelled, Message: "request cancelled"}}
	}
	return &request.Error{Outcome: request.OutcomeTransport, Err: err,
		Wire: &jsonrpc.Error{Code: request.CodeBackendUnavailable, Message: err.Error()}}
}

// bindingOf is what a requestState issued to c is bound to: the user, the
// client (a stateless client has no session; its clientInfo is the
// identity it gives), the method and the capability.
func bindingOf(c *request.Call) rounds.Binding {
	client := c.SessionID
	if c.Params != nil {
		if info, ok := c.Params.GetMeta()[mcp.MetaKeyClientInfo].(map[string]any); ok {
			client += fmt.Sprintf("|%v|%v", info["name"], info["version"])
		}
	}
	return rounds.Binding{User: c.UserID, Client: client, Method: c.Method, Name: c.Capability}
}

func retryOf(p mcp.Params) (mcp.InputResponseMap, string) {
	switch p := p.(type) {
	case *mcp.CallToolParams:
		return p.InputResponses, p.RequestState
	case *mcp.GetPromptParams:
		return p.InputResponses, p.RequestState
	case *mcp.ReadResourceParams:
		return p.InputResponses, p.RequestState
	}
	return nil, ""
}

func backendError(parent, ctx context.Context, name string, timeout time.Duration, err error) error {
	var wire *jsonrpc.Error
	switch {
	case parent.Err() != nil:
		return &request.Error{Outcome: request.OutcomeCancelled, Wire: &jsonrpc.Error{Code: request.CodeRequestCancelled, Message: "request cancelled"}, Err: err}
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &request.Error{Outcome: request.OutcomeTimeout, Err: err, Wire: &jsonrpc.Error{Code: request.CodeBackendTimeout,
			Message: fmt.Sprintf("backend %q did not answer within %s", name, timeout)}}
	case errors.As(err, &wire):
		return &request.Error{Outcome: request.OutcomeRPCError, Wire: wire, Err: nil}
	}
	// Its text goes to the client, the spans and the audit trail: a key
	// in the backend's URL query does not.
	err = backend.RedactURL(err)
	return &request.Error{Outcome: request.OutcomeTransport, Err: err, Wire: &jsonrpc.Error{Code: request.CodeBackendUnavailable,
		Message: fmt.Sprintf("backend %q failed: %v", name, err)}}
}

// checkCursor refuses a pagination cursor: Argus lists everything in one
// page, so any cursor is one it never issued.
func checkCursor(p mcp.Params) error {
	var cursor string
	switch p := p.(type) {
	case *mcp.ListToolsParams:
		if p != nil {
			cursor = p.Cursor
		}
	case *mcp.ListResourcesParams:
		if p != nil {
			cursor = p.Cursor
		}
	case *mcp.ListResourceTemplatesParams:
		if p != nil {
			cursor = p.Cursor
		}
	case *mcp.ListPromptsParams:
		if p != nil {
			cursor = p.Cursor
		}
	}
	if cursor != "" {
		return request.Errorf(request.OutcomeNotFound, request.CodeInvalidParams, "invalid cursor: Argus returns complete lists")
	}
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
