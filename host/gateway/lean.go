package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/request"
)

// ServeLean serves a tools/call, resources/read, prompts/get, list or
// completion/complete the transport took off the SDK's path
// (transport.Lean): it decodes the parameters as the SDK would
// (case-sensitive member names, at most request.MaxDepth levels of
// nesting in the whole message, of which the envelope around the
// parameters is one) and runs the request through intercept, the same
// chain the SDK would have called, with the same session. ok is false, and nothing done, for another method and for
// parameters the SDK should judge: absent or null, undecodable, too deep,
// or carrying the stateless revision's per-request protocol version on a
// session of an older one.
//
// ss nil is a request of the stateless revision: it is served with a
// session made as the SDK's stateless handler makes one (statelessSession),
// and left to the SDK whenever the SDK would refuse it (its _meta does
// not name the revision of its MCP-Protocol-Version header or declare the
// client's capabilities, its client info does not decode, its Mcp-Name
// header is not what it names).
func (g *Gateway) ServeLean(ctx context.Context, ss *mcp.ServerSession, method string, params json.RawMessage, header http.Header) (mcp.Result, error, bool) {
	// The SDK counts the depth of the whole message: params nest one
	// level inside it. One level more would reach a backend as a message
	// deeper than its SDK takes, which ends its session (a stdio child
	// exits, an HTTP server answers 400).
	newRequest, known := leanRequests[method]
	if !known || len(params) == 0 || string(params) == "null" || request.TooDeep(params, request.MaxDepth-1) {
		return nil, nil, false
	}
	stateless := ss == nil
	decoded := func(p mcp.Params) bool {
		if request.Decode(params, p) != nil {
			return false
		}
		v, has := p.GetMeta()[mcp.MetaKeyProtocolVersion]
		if stateless {
			version, _ := v.(string)
			return version == header.Get("MCP-Protocol-Version")
		}
		return !has
	}
	// No TokenInfo: the call's facts are read from ctx (NewCall), saving
	// the three allocations of encoding them for the SDK.
	extra := &mcp.RequestExtra{Header: header}
	build, ok := newRequest(decoded, extra) // the request, on a session
	if !ok {
		return nil, nil, false
	}
	if stateless {
		first := build(nil) // its _meta decides the session's state
		// The SDK requires an Mcp-Name header of the calls, naming what
		// they call (a list has none to name).
		if name, named := calledName(first); named {
			if h := header.Get("Mcp-Name"); h == "" || h != name {
				return nil, nil, false
			}
		}
		state, ok := g.statelessState(first)
		if !ok {
			return nil, nil, false
		}
		var err error
		if ss, err = g.statelessSession(ctx, state); err != nil {
			return nil, nil, false
		}
		defer ss.Close()
	}
	req := build(ss)
	res, err := g.intercept(nil)(ctx, method, req)
	return res, err, true
}

// statelessState is the state of the session the SDK makes for a request
// of the stateless revision, from its _meta (SEP-2575): the revision, the
// client's capabilities (required) and information (if sent; it must
// decode), and the log level it asks for. ok is false where the SDK would
// refuse the request. Both declarations are decoded once per distinct
// value (g.declared); the capabilities in the request's _meta are replaced
// by their JSON, which a backend request then carries as it is.
func (g *Gateway) statelessState(req mcp.Request) (*mcp.ServerSessionState, bool) {
	meta := req.GetParams().GetMeta()
	r, _ := req.(interface {
		ClientCapabilities() *mcp.ClientCapabilities
	})
	if r == nil {
		return nil, false
	}
	// Decoded from _meta: the request has no session yet.
	caps, raw := g.declared.Capabilities(meta[mcp.MetaKeyClientCapabilities], r.ClientCapabilities)
	if caps == nil {
		return nil, false
	}
	meta[mcp.MetaKeyClientCapabilities] = raw
	ip := &mcp.InitializeParams{ProtocolVersion: meta[mcp.MetaKeyProtocolVersion].(string), Capabilities: caps}
	if v, has := meta[mcp.MetaKeyClientInfo]; has {
		var ok bool
		if ip.ClientInfo, ok = g.declared.ClientInfo(v); !ok {
			return nil, false
		}
	}
	// The SDK holds the level in the request's context, which only it can
	// make; as the session's level it reaches the same checks (a level
	// that is not a string is none, as there).
	level, _ := meta[mcp.MetaKeyLogLevel].(string)
	return &mcp.ServerSessionState{InitializeParams: ip, LogLevel: mcp.LoggingLevel(level)}, true
}

// leanRequests make the request of each method ServeLean serves (the
// methods transport.LeanMethods lists).
var leanRequests = map[string]func(decoded func(mcp.Params) bool, extra *mcp.RequestExtra) (func(*mcp.ServerSession) mcp.Request, bool){
	"tools/call":               leanRequest[mcp.CallToolParamsRaw],
	"resources/read":           leanRequest[mcp.ReadResourceParams],
	"prompts/get":              leanRequest[mcp.GetPromptParams],
	"tools/list":               leanRequest[mcp.ListToolsParams],
	"prompts/list":             leanRequest[mcp.ListPromptsParams],
	"resources/list":           leanRequest[mcp.ListResourcesParams],
	"resources/templates/list": leanRequest[mcp.ListResourceTemplatesParams],
	"completion/complete":      leanRequest[mcp.CompleteParams],
}

// leanRequest decodes the parameters of a request of params P (decoded
// says whether they are ones to serve) and returns the function making
// the request on a session; false if decoded refuses them.
func leanRequest[T any, P interface {
	*T
	mcp.Params
}](decoded func(mcp.Params) bool, extra *mcp.RequestExtra) (func(*mcp.ServerSession) mcp.Request, bool) {
	p := P(new(T))
	if !decoded(p) {
		return nil, false
	}
	return func(ss *mcp.ServerSession) mcp.Request {
		return &mcp.ServerRequest[P]{Session: ss, Params: p, Extra: extra}
	}, true
}

// calledName is what a tools/call, resources/read or prompts/get names
// (tool, URI, prompt), as its stateless request's Mcp-Name header must
// (the SDK's validateMcpHeaders); named is false for the lists.
func calledName(req mcp.Request) (name string, named bool) {
	switch p := req.GetParams().(type) {
	case *mcp.CallToolParamsRaw:
		return p.Name, true
	case *mcp.ReadResourceParams:
		return p.URI, true
	case *mcp.GetPromptParams:
		return p.Name, true
	}
	return "", false
}

// statelessSession connects the session of one request of the stateless
// revision, as the SDK's stateless handler does for each: it lives while
// the request is served, and what the gateway sends the client meanwhile
// goes on the request's stream (divert). Anything sent on the session
// itself is dropped, as a message to a stateless client outside a request
// is by the SDK.
func (g *Gateway) statelessSession(ctx context.Context, state *mcp.ServerSessionState) (*mcp.ServerSession, error) {
	return g.server.Connect(ctx, detachedTransport{}, &mcp.ServerSessionOptions{State: state})
}

// detachedTransport is the transport of a statelessSession: a
// connection that reads nothing until it is closed and drops what is
// written to it.
type detachedTransport struct{}

func (detachedTransport) Connect(context.Context) (mcp.Connection, error) {
	return &detachedConn{closed: make(chan struct{})}, nil
}

type detachedConn struct {
	once   sync.Once
	closed chan struct{}
}

func (c *detachedConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.closed:
		return nil, io.EOF
	}
}

func (c *detachedConn) Write(context.Context, jsonrpc.Message) error {
	select {
	case <-c.closed:
		return io.ErrClosedPipe
	default:
		return nil
	}
}

func (c *detachedConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *detachedConn) SessionID() string { return "" }

// divert is a sending middleware of the client-facing server: a message the
// gateway sends while serving a lean call (its context carries the call's
// request.Stream) goes on that call's response stream, since the SDK's
// session does not know the call. The SDK's own checks (capabilities,
// log level, parameter defaults) have run by then; only delivery changes.
func (g *Gateway) divert(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		st, ok := request.StreamFrom(ctx)
		if !ok {
			return next(ctx, method, req)
		}
		if strings.HasPrefix(method, "notifications/") {
			return nil, st.Notify(ctx, method, req.GetParams())
		}
		var res mcp.Result
		switch method {
		case "roots/list":
			res = &mcp.ListRootsResult{}
		case "sampling/createMessage":
			res = &mcp.CreateMessageWithToolsResult{}
		case "elicitation/create":
			res = &mcp.ElicitResult{}
		default:
			return next(ctx, method, req)
		}
		raw, err := st.Call(ctx, method, req.GetParams())
		if err != nil {
			return nil, err
		}
		if err := request.Decode(raw, res); err != nil {
			return nil, err
		}
		return res, nil
	}
}
