package request

import (
	"context"
	"errors"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Outcome classifies how a call ended.
type Outcome int

const (
	// OutcomeSuccess: the backend answered with a result (not isError).
	OutcomeSuccess Outcome = iota
	// OutcomeToolError: a tool result with isError set.
	OutcomeToolError
	// OutcomeRPCError: the backend answered with a JSON-RPC error.
	OutcomeRPCError
	// OutcomeNotFound: no backend owns the requested name or URI.
	OutcomeNotFound
	// OutcomeTransport: the backend could not be reached or went away.
	OutcomeTransport
	// OutcomeTimeout: the backend did not answer within its call timeout.
	OutcomeTimeout
	// OutcomeCancelled: the client cancelled the request.
	OutcomeCancelled
	// OutcomeDenied: the client was not authorised.
	OutcomeDenied
	// OutcomeInternal: Argus itself failed (a recovered panic).
	OutcomeInternal
	// OutcomeAuditUnavailable: refused because a required audit sink
	// cannot record the call (the gateway fails closed).
	OutcomeAuditUnavailable
	// OutcomePolicyDenied: an authorization policy refused the call.
	OutcomePolicyDenied
	// OutcomeRateLimited: the caller's quota is used up.
	OutcomeRateLimited
)

var outcomeNames = [...]string{"success", "tool_error", "rpc_error", "not_found", "transport_error", "timeout", "cancelled", "unauthorized", "internal_error", "audit_unavailable", "denied", "rate_limited"}

// String is the outcome's stable name, used as error type in audit and
// telemetry ("success", "tool_error", "rpc_error", "not_found",
// "transport_error", "timeout", "cancelled", "unauthorized", "internal_error",
// "audit_unavailable", "denied", "rate_limited").
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// Error is an error with a known Outcome and the JSON-RPC error the client
// receives for it.
type Error struct {
	Outcome Outcome
	Wire    *jsonrpc.Error
	Err     error // the underlying cause, for logs; may be nil
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Wire.Message + ": " + e.Err.Error()
	}
	return e.Wire.Message
}

func (e *Error) Unwrap() error { return e.Err }

// JSON-RPC error codes Argus answers with. Argus's own codes sit in the
// implementation-defined range -32000..-32099 but avoid the codes the MCP
// SDK and specification already give a meaning (-32001..-32005, -32020..
// -32022, -32042): a client SDK maps -32003, for example, to "connection
// closed".
const (
	CodeInvalidRequest     = -32600
	CodeMethodNotFound     = -32601
	CodeInvalidParams      = -32602
	CodeInternalError      = -32603
	CodeParseError         = -32700
	CodeResourceNotFound   = -32002 // MCP: resource not found
	CodeBackendUnavailable = -32010 // the owning backend is down or its session failed
	CodeBackendTimeout     = -32011 // the owning backend did not answer within call_timeout
	CodeUnauthorized       = -32012 // missing or invalid credentials
	CodeLimitReached       = -32013 // a configured limit (sessions, per-client backend sessions) is reached
	CodeRequestCancelled   = -32800 // the client cancelled the request
)

// Errorf returns an *Error with the given outcome and wire code.
func Errorf(o Outcome, code int64, format string, args ...any) *Error {
	return &Error{Outcome: o, Wire: &jsonrpc.Error{Code: code, Message: fmt.Sprintf(format, args...)}}
}

// ErrUnauthorized denies a request whose client failed authentication.
var ErrUnauthorized = errors.New("unauthorized")

// Classify derives the Outcome of a finished call.
func Classify(res mcp.Result, err error) Outcome {
	if err == nil {
		if r, ok := res.(*mcp.CallToolResult); ok && r.IsError {
			return OutcomeToolError
		}
		return OutcomeSuccess
	}
	var e *Error
	var w *jsonrpc.Error
	switch {
	case errors.As(err, &e):
		return e.Outcome
	case errors.Is(err, ErrUnauthorized):
		return OutcomeDenied
	case errors.Is(err, context.Canceled):
		return OutcomeCancelled
	case errors.Is(err, context.DeadlineExceeded):
		return OutcomeTimeout
	case errors.As(err, &w):
		return OutcomeRPCError
	}
	return OutcomeTransport
}

// Wire converts any chain error into the error the MCP layer sends, so
// backend JSON-RPC errors pass through unchanged (code, message, data) and
// internal causes are not leaked beyond their message.
func Wire(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Wire
	}
	var w *jsonrpc.Error
	if errors.As(err, &w) {
		return w
	}
	switch Classify(nil, err) {
	case OutcomeDenied:
		return unauthorizedWire()
	case OutcomeCancelled:
		return &jsonrpc.Error{Code: CodeRequestCancelled, Message: "request cancelled"}
	case OutcomeTimeout:
		return &jsonrpc.Error{Code: CodeBackendTimeout, Message: "request timed out"}
	}
	return &jsonrpc.Error{Code: CodeInternalError, Message: err.Error()}
}

func unauthorizedWire() *jsonrpc.Error {
	return &jsonrpc.Error{Code: CodeUnauthorized, Message: "unauthorized"}
}
