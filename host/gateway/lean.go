package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/request"
)

// ServeLean serves a tools/call, resources/read or prompts/get the
// transport took off the SDK's path (transport.Lean): it decodes the
// parameters as the SDK would (case-sensitive member names, at most
// request.MaxDepth levels of nesting in the whole message, of which the
// envelope around the parameters is one) and runs the request through
// intercept, the same chain the SDK would have called, with the same
// session. ok is false, and nothing done, for another method and for
// parameters the SDK should judge: absent or null, undecodable, too deep,
// or carrying the stateless revision's per-request protocol version.
func (g *Gateway) ServeLean(ctx context.Context, ss *mcp.ServerSession, method string, params json.RawMessage, header http.Header) (mcp.Result, error, bool) {
	// The SDK counts the depth of the whole message: params nest one
	// level inside it. One level more would reach a backend as a message
	// deeper than its SDK takes, which ends its session (a stdio child
	// exits, an HTTP server answers 400).
	if len(params) == 0 || string(params) == "null" || request.TooDeep(params, request.MaxDepth-1) {
		return nil, nil, false
	}
	decoded := func(p mcp.Params) bool {
		if request.Decode(params, p) != nil {
			return false
		}
		_, stateless := p.GetMeta()["io.modelcontextprotocol/protocolVersion"]
		return !stateless
	}
	f, _ := request.FactsFrom(ctx)
	extra := &mcp.RequestExtra{TokenInfo: f.TokenInfo(), Header: header}
	var req mcp.Request
	switch method {
	case "tools/call":
		p := new(mcp.CallToolParamsRaw)
		if !decoded(p) {
			return nil, nil, false
		}
		req = &mcp.CallToolRequest{Session: ss, Params: p, Extra: extra}
	case "resources/read":
		p := new(mcp.ReadResourceParams)
		if !decoded(p) {
			return nil, nil, false
		}
		req = &mcp.ReadResourceRequest{Session: ss, Params: p, Extra: extra}
	case "prompts/get":
		p := new(mcp.GetPromptParams)
		if !decoded(p) {
			return nil, nil, false
		}
		req = &mcp.GetPromptRequest{Session: ss, Params: p, Extra: extra}
	default:
		return nil, nil, false
	}
	res, err := g.intercept(nil)(ctx, method, req)
	return res, err, true
}

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
