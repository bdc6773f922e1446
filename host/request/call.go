// Package request defines the per-request context every MCP operation
// carries through Argus and the ordered chain of middlewares it passes:
//
//	transport -> observers (Begin) -> auth -> ... -> routing -> backend
//	                          observers (End) see the final outcome
//
// The chain recovers panics in its middlewares, handler and observers;
// the gateway recovers, above the chain, whatever else panics while
// serving a request (see Panics).
//
// Middlewares may stop a call (auth denies it) or change it; Observers only
// watch and see every call exactly once, whatever its outcome: success,
// JSON-RPC error, tool error, transport failure, timeout, cancellation,
// denial or a recovered panic.
package request

import (
	"context"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Transport names for Call.Transport, as MCP names them.
const (
	TransportHTTP  = "streamable-http"
	TransportStdio = "stdio"
)

// Call is the context of one client request. The transport and gateway fill
// in the request fields before the chain runs; routing fills in Backend and
// OriginalName; Run fills in the outcome fields. A Call belongs to one
// goroutine at a time: middlewares and observers run in sequence.
type Call struct {
	// ID uniquely identifies this request inside Argus (a UUID).
	ID string
	// Facts are what the transport knows of the request: JSON-RPC id,
	// client IP, user, transport.
	Facts
	// SessionID is the client's MCP session id ("" for stateless requests).
	SessionID string
	// AuthErr is set by the transport when the client failed authentication;
	// the auth middleware turns it into a denial before anything else runs.
	AuthErr error
	// ProtocolVersion is the MCP revision the client negotiated.
	ProtocolVersion string
	// ClientCapabilities are the capabilities the client declared: in the
	// request's _meta on 2026-07-28 and newer, at initialize before. Nil
	// when it declared none.
	ClientCapabilities *mcp.ClientCapabilities

	// Method is the MCP method, e.g. "tools/call".
	Method string
	// Capability is the name the client used: the exposed tool or prompt
	// name, or the resource URI. Empty for list methods.
	Capability string
	// OriginalName is Capability as the owning backend knows it.
	OriginalName string
	// Backend is the owning backend, once routed.
	Backend string
	// Policy names the policy that allowed or denied the call ("quota:NAME"
	// for a quota refusal); "" when no policy applies.
	Policy string

	// Params are the request's parameters as received. Middlewares must not
	// modify them.
	Params mcp.Params
	// Header holds the HTTP request's headers (nil on stdio), for
	// observers that read context from them (trace propagation).
	Header http.Header
	// BackendHook, if an observer or middleware sets it, is called by the
	// router around the request to the backend; nil costs nothing.
	BackendHook BackendHook
	// Session is the client's server-side session (nil when the request was
	// refused before reaching the MCP layer).
	Session *mcp.ServerSession

	// Multi-round-trip calls (SEP-2322), set by the router: a 2026-07-28
	// client whose call needs input answers InputRequiredResults and retries
	// until the call ends. InputRequired marks a request that ended with an
	// InputRequiredResult (the logical call goes on in the retry, so
	// observers do not record it as a call of its own); Rounds, on the
	// request that ends the logical call, counts the InputRequiredResults
	// before it; Round is the number of this request within the logical
	// call (0 for a call that never needed input, 1 for the first request
	// of one that did); LogicalID is the ID of that first request.
	InputRequired bool
	Rounds        int
	Round         int
	LogicalID     string
	// Unclaimed marks the end of a logical call whose client never retried
	// (its round expired, or the gateway shut down while it waited): no
	// request of its own, but the one record of how the call ended,
	// observed with Chain.Fail. Round is then the round that never came.
	Unclaimed bool

	Start time.Time

	// Filled in by Run.
	Result   mcp.Result
	Err      error
	Outcome  Outcome
	Duration time.Duration

	observed bool // a chain has shown the call to its observers
}

// Observed reports whether a chain has shown c to its observers (Run or
// Fail), so that a failure above the chain records a call exactly once.
func (c *Call) Observed() bool { return c.observed }

// Backend describes where the router sends a call, for BackendHook.
type Backend struct {
	Name    string
	Type    string // stdio | streamable-http | sse
	URL     string // HTTP types
	Command string // stdio
	// TracePropagation is what of a trace context the backend is sent:
	// config.PropagateAll ("" too), PropagateTrace or PropagateNone.
	TracePropagation string
}

// BackendHook runs around one backend request. It may derive ctx and
// change params (a copy the router owns, e.g. to add trace context to
// _meta); the returned done is called with the backend's answer.
type BackendHook func(ctx context.Context, c *Call, b Backend, params mcp.Params) (context.Context, func(mcp.Result, error))

// Handler serves a Call and returns the MCP result or an error.
type Handler func(ctx context.Context, c *Call) (mcp.Result, error)

// Middleware wraps a Handler. Middlewares are applied in list order: the
// first is outermost.
type Middleware func(next Handler) Handler

// Observer watches every call. Begin runs before any middleware and may
// return a derived context (for example one holding a span); End runs after
// the outcome is known, also for denied and panicking calls. Observers run
// in registration order for Begin and reverse order for End.
type Observer interface {
	Begin(ctx context.Context, c *Call) context.Context
	End(ctx context.Context, c *Call)
}

// Audited operations: the methods whose calls the audit trail records,
// with the names Argus users query them by (audit target.method, span
// names).
var auditedMethods = map[string]string{
	"tools/call":     "call_tool",
	"resources/read": "read_resource",
	"prompts/get":    "get_prompt",
}

// AuditedName is method's name as an audited operation ("call_tool" for
// "tools/call"), and false for a method that is not audited.
func AuditedName(method string) (string, bool) {
	name, ok := auditedMethods[method]
	return name, ok
}
