package revision

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// statelessOnlyMeta are the per-request _meta keys of Stateless and newer
// that an older session must not carry: they select the stateless protocol
// on the receiving server (a stateful go-sdk server refuses a request with
// protocolVersion 2026-07-28 with -32022), or repeat what the older session
// settled once (client identity at initialize, log level with
// logging/setLevel, subscriptions on the session's own stream).
//
// The client's declared capabilities (MetaKeyClientCapabilities) are kept:
// they are the truth about the client behind Argus, whereas the session's
// own capabilities are Argus's. A server of an older revision ignores
// unknown _meta keys; a go-sdk server reads them for
// ServerRequest.ClientCapabilities and so refuses a call that needs a
// capability the client lacks, as it would for a direct client.
var statelessOnlyMeta = []string{
	mcp.MetaKeyProtocolVersion,
	mcp.MetaKeyClientInfo,
	mcp.MetaKeyLogLevel,
	mcp.MetaKeySubscriptionID,
}

// ForBackend returns the request _meta to send to a backend whose session
// negotiated backendVersion: for a backend older than Stateless, meta
// without the keys only Stateless requests carry; otherwise meta itself.
// Trace context (traceparent, tracestate, baggage), progress tokens and
// any other key pass unchanged. meta is never modified: the result is a
// copy when anything was removed, nil when nothing is left.
func ForBackend(meta mcp.Meta, backendVersion string) mcp.Meta {
	if meta == nil || IsStateless(backendVersion) {
		return meta
	}
	var out mcp.Meta
	for _, k := range statelessOnlyMeta {
		if _, ok := meta[k]; !ok {
			continue
		}
		if out == nil {
			out = maps.Clone(meta)
		}
		delete(out, k)
	}
	if out == nil {
		return meta
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// WithLogLevel returns the request _meta to send a backend whose session
// negotiated backendVersion, for a client whose log level is level (set
// with logging/setLevel; "" if it never set one). A Stateless backend
// reads the level of each request from _meta (logLevel) and sends no log
// messages for a request without it, whereas an older client set its
// level once for its session: the level is added for such a backend when
// the request does not carry its own. For an older backend, or with no
// level, meta is returned as it is. meta is never modified.
func WithLogLevel(meta mcp.Meta, backendVersion string, level mcp.LoggingLevel) mcp.Meta {
	if level == "" || !IsStateless(backendVersion) {
		return meta
	}
	if _, ok := meta[mcp.MetaKeyLogLevel]; ok {
		return meta
	}
	out := maps.Clone(meta)
	if out == nil {
		out = mcp.Meta{}
	}
	out[mcp.MetaKeyLogLevel] = level
	return out
}

// Declares reports whether caps declares the capability a backend request
// of the given method (sampling/createMessage, elicitation/create,
// roots/list) needs from the client; other methods need none. Roots is an object in the wire format but a
// struct in the SDK's ClientCapabilities, so its declaration is read from
// RootsV2, which ServerRequest.ClientCapabilities sets when a client
// declares roots.
func Declares(caps *mcp.ClientCapabilities, method string) bool {
	if caps == nil {
		return false
	}
	switch method {
	case "sampling/createMessage":
		return caps.Sampling != nil
	case "elicitation/create":
		return caps.Elicitation != nil
	case "roots/list":
		return caps.RootsV2 != nil || caps.Roots.ListChanged
	}
	return true
}

// MissingCapability is the SEP-2663 error for a request that needs client
// capabilities the client did not declare: code -32021 with data
// {"requiredCapabilities": {...}} naming them, e.g. {"sampling": {}}.
func MissingCapability(methods ...string) *jsonrpc.Error {
	req := map[string]any{}
	var names []string
	for _, m := range methods {
		switch m {
		case "sampling/createMessage":
			req["sampling"], names = map[string]any{}, append(names, "sampling")
		case "elicitation/create":
			req["elicitation"], names = map[string]any{}, append(names, "elicitation")
		case "roots/list":
			req["roots"], names = map[string]any{}, append(names, "roots")
		}
	}
	data, _ := json.Marshal(map[string]any{"requiredCapabilities": req})
	return &jsonrpc.Error{
		Code:    mcp.CodeMissingRequiredClientCapabilities,
		Message: fmt.Sprintf("the backend needs client capabilities the client did not declare: %v", names),
		Data:    data,
	}
}

// BackendContext returns ctx, for a request Argus sends a backend on
// behalf of a client request whose context is ctx, without the client's
// protocol revision: the SDK's HTTP server transport records the client's
// MCP-Protocol-Version header in the request context, and its HTTP client
// transport sends that value as the header of any request made under that
// context when the backend session has not told it its own. A backend of
// an older revision would then see a 2026-07-28 header on its session and
// refuse the call (-32022). Deadlines, cancellation and every other value
// (trace context, audit identifiers) pass through.
func BackendContext(ctx context.Context) context.Context {
	return withoutClientRevision{ctx}
}

type withoutClientRevision struct{ context.Context }

// sdkVersionKey is the SDK's (unexported) context key for the protocol
// version header; it is recognised by type, as it cannot be named here.
var sdkVersionKey = struct{ pkg, name string }{"github.com/modelcontextprotocol/go-sdk/mcp", "protocolVersionContextKey"}

func (c withoutClientRevision) Value(key any) any {
	if t := reflect.TypeOf(key); t != nil && t.Name() == sdkVersionKey.name && t.PkgPath() == sdkVersionKey.pkg {
		return nil
	}
	return c.Context.Value(key)
}
