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

	"github.com/argusmcp/argus/host/catalog"
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
		c = NewCall(method, req)
		res, err = g.chain.Run(ctx, c)
		if err != nil {
			if c.Outcome == request.OutcomeTransport || c.Outcome == request.OutcomeTimeout {
				g.log.Warn("request failed", "method", method, "capability", c.Capability, "backend", c.Backend, "request_id", c.ID, "error", err)
			}
			return nil, request.Wire(err)
		}
		return g.shape.Result(c.ProtocolVersion, method, res), nil
	}
}

// recovered handles a panic recovered in intercept: it is logged and
// counted, an aggregated call the chain has not yet observed is observed
// as an internal error, and the client is answered with one.
func (g *Gateway) recovered(ctx context.Context, v any, method string, req mcp.Request, c *request.Call) error {
	e := g.panics.Recovered(v, "client request", "method", method)
	if routedMethods[method] && (c == nil || !c.Observed()) {
		if c == nil {
			c = safeNewCall(method, req)
		}
		g.chain.Fail(ctx, c, e)
	}
	return e.Wire
}

// safeNewCall is NewCall for a request whose serving panicked: if NewCall
// panics too, the call is known by its method alone.
func safeNewCall(method string, req mcp.Request) (c *request.Call) {
	defer func() {
		if recover() != nil {
			c = &request.Call{ID: uuid.NewString(), Method: method}
		}
	}()
	return NewCall(method, req)
}

// NewCall builds the request context of an MCP request from what the SDK
// and the transport (request.Facts) carry. A request without facts came
// through no transport of Argus's; it counts as stdio.
func NewCall(method string, req mcp.Request) *request.Call {
	c := &request.Call{ID: uuid.NewString(), Method: method, Params: req.GetParams()}
	if ss, ok := req.GetSession().(*mcp.ServerSession); ok && ss != nil {
		c.Session = ss
		c.SessionID = ss.ID()
		if ip := ss.InitializeParams(); ip != nil {
			c.ProtocolVersion = ip.ProtocolVersion
		}
	}
	if r, ok := req.(interface {
		ClientCapabilities() *mcp.ClientCapabilities
	}); ok && c.Session != nil {
		c.ClientCapabilities = r.ClientCapabilities()
	}
	extra := req.GetExtra()
	c.Facts, _ = request.FactsOf(extra)
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
		return forward(ctx, g, c, r.Backend, r.Name, fwd, func(ctx context.Context, s *mcp.ClientSession) (*mcp.CallToolResult, error) {
			return s.CallTool(ctx, fwd)
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
		return forward(ctx, g, c, r.Backend, r.Name, &fwd, func(ctx context.Context, s *mcp.ClientSession) (*mcp.GetPromptResult, error) {
			return s.GetPrompt(ctx, &fwd)
		})
	case "resources/read":
		p, ok := c.Params.(*mcp.ReadResourceParams)
		if !ok || p == nil {
			return nil, errMissingParams(c.Method)
		}
		r, ok := snap.Resource(p.URI)
		if !ok {
			e := request.Errorf(request.OutcomeNotFound, request.CodeResourceNotFound, "resource not found")
			e.Wire.Data = mustJSON(map[string]string{"uri": p.URI})
			return nil, e
		}
		fwd := *p
		return forward(ctx, g, c, r.Backend, r.Name, &fwd, func(ctx context.Context, s *mcp.ClientSession) (*mcp.ReadResourceResult, error) {
			return s.ReadResource(ctx, &fwd)
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
		return forward(ctx, g, c, r.Backend, r.Name, &fwd, func(ctx context.Context, s *mcp.ClientSession) (*mcp.CompleteResult, error) {
			return s.Complete(ctx, &fwd)
		})
	}
	return nil, request.Errorf(request.OutcomeInternal, request.CodeInternalError, "method %q is not routable", c.Method)
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
func forward[R mcp.Result](ctx context.Context, g *Gateway, c *request.Call, backendName, original string, params mcp.Params, do func(context.Context, *mcp.ClientSession) (R, error)) (mcp.Result, error) {
	c.Backend, c.OriginalName = backendName, original
	stateless := revision.IsStateless(c.ProtocolVersion)
	if responses, state := retryOf(params); stateless && state != "" {
		return g.resume(ctx, c, state, responses)
	}
	// Input responses without Argus's state answer nothing Argus asked;
	// the backend never sees the client's side of a multi-round-trip.
	setRetry(params, nil, "")
	l, err := g.linkFor(ctx, c.Session, backendName)
	if err != nil {
		var limit *request.Error
		switch {
		case ctx.Err() != nil:
			return nil, backendError(ctx, ctx, backendName, 0, err)
		case errors.As(err, &limit):
			return nil, limit
		}
		return nil, &request.Error{Outcome: request.OutcomeTransport, Err: err,
			Wire: &jsonrpc.Error{Code: request.CodeBackendUnavailable, Message: fmt.Sprintf("backend %q is unavailable", backendName)}}
	}
	conn := l.Conn()
	if conn == nil {
		return nil, request.Errorf(request.OutcomeTransport, request.CodeBackendUnavailable, "backend %q is unavailable", backendName)
	}
	if meta := params.GetMeta(); meta != nil {
		if ir := conn.Session().InitializeResult(); ir != nil {
			params.SetMeta(revision.ForBackend(meta, ir.ProtocolVersion))
		}
	}
	cfg := conn.Config()
	timeout := cfg.CallTimeout
	// run makes the backend call under cctx; parent is the context whose
	// end means the caller gave up.
	run := func(parent, cctx context.Context, inf *inflight) (mcp.Result, error) {
		var done func(mcp.Result, error)
		if c.BackendHook != nil {
			cctx, done = c.BackendHook(cctx, c, request.Backend{Name: cfg.Name, Type: cfg.Type, URL: cfg.URL, Command: cfg.Command}, params)
		}
		res, err := l.exchange(cctx, inf, params, func(ctx context.Context) (mcp.Result, error) {
			r, err := do(ctx, conn.Session())
			if err != nil {
				return nil, err
			}
			return r, nil
		})
		if err != nil {
			err = backendError(parent, cctx, backendName, timeout, err)
		}
		if missing := l.missingCapabilities(inf); missing != nil {
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
		inf := l.begin(ctx, c, params, nil)
		defer l.end(inf)
		cctx, cancel := context.WithTimeout(revision.BackendContext(ctx), timeout)
		defer cancel()
		return run(ctx, cctx, inf)
	}
	// The backend call outlives this request when the backend asks for
	// input; it ends with its result or when the logical call is abandoned
	// (client gone, round expired, no progress within the call timeout).
	bctx, cancel := context.WithCancel(context.WithoutCancel(revision.BackendContext(ctx)))
	rc := g.rounds.Start(bindingOf(c), cancel)
	inf := l.begin(ctx, c, params, rc)
	rc.Value = &roundCall{origin: c.ID, l: l, inf: inf, timeout: timeout}
	go func() {
		defer cancel()
		defer l.end(inf)
		rc.Finish(run(bctx, bctx, inf))
	}()
	return g.await(ctx, c, rc, timeout)
}

// roundCall is what the router keeps with a multi-round-trip call.
type roundCall struct {
	origin  string // request ID of the call's first request
	l       *link
	inf     *inflight
	timeout time.Duration
}

// resume continues a multi-round-trip call on the client's retry.
func (g *Gateway) resume(ctx context.Context, c *request.Call, state string, responses mcp.InputResponseMap) (mcp.Result, error) {
	rc, err := g.rounds.Resume(state, bindingOf(c), responses)
	if err != nil {
		return nil, roundError(err, 0)
	}
	rcall := rc.Value.(*roundCall)
	c.LogicalID = rcall.origin
	rcall.l.reattach(rcall.inf, ctx, c.Session)
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

// maxBackendRounds bounds how often one backend request may answer with
// input requests before Argus gives up (as the SDK's client does).
const maxBackendRounds = 10

// exchange makes one backend request; when the backend's result asks for
// input (SEP-2322: a backend of revision 2026-07-28, or an older one whose
// SDK asks again after a first round), it gets the answers from the client
// the call belongs to and repeats the request with them.
func (l *link) exchange(ctx context.Context, inf *inflight, params mcp.Params, do func(context.Context) (mcp.Result, error)) (mcp.Result, error) {
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
		setRetry(params, answers, state)
	}
}

// fulfil gets the client's answers to a backend result's input requests,
// all at once.
func (l *link) fulfil(ctx context.Context, inf *inflight, reqs mcp.InputRequestMap) (mcp.InputResponseMap, error) {
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

func setRetry(p mcp.Params, responses mcp.InputResponseMap, state string) {
	switch p := p.(type) {
	case *mcp.CallToolParams:
		p.InputResponses, p.RequestState = responses, state
	case *mcp.GetPromptParams:
		p.InputResponses, p.RequestState = responses, state
	case *mcp.ReadResourceParams:
		p.InputResponses, p.RequestState = responses, state
	}
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
