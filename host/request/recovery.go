package request

import (
	"fmt"
	"reflect"
	"runtime/debug"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Panics logs and counts the panics recovered at the top of every
// goroutine that serves a client request or a backend message, so that no
// single request can end the process. Give all recovery points of one
// process the same *Panics: Count is what the argus.panics.recovered
// metric and the management status report. Safe for concurrent use; a nil
// *Panics recovers without logging or counting.
type Panics struct {
	log hclog.Logger
	n   atomic.Int64
}

// NewPanics returns a Panics that logs each recovered panic once, with its
// stack, on log (pass the redacting logger: a panic value may quote
// request data). A nil log logs nothing.
func NewPanics(log hclog.Logger) *Panics {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Panics{log: log}
}

// Recovered records a panic value v that the caller recovered at where
// (e.g. "mcp request"), with key/value pairs for the log line, and
// returns the error the client is answered with: a JSON-RPC internal
// error that does not quote the panic. Call it from the deferred function
// that called recover, so the logged stack shows the panic's origin.
func (p *Panics) Recovered(v any, where string, kv ...any) *Error {
	e := Errorf(OutcomeInternal, CodeInternalError, "internal error")
	e.Err = fmt.Errorf("panic: %v", v)
	if p == nil {
		return e
	}
	p.n.Add(1)
	args := append([]any{"where", where, "panic", fmt.Sprint(v)}, kv...)
	args = append(args, "stack", string(debug.Stack()))
	p.log.Error("recovered panic; the request fails with an internal error and the gateway carries on", args...)
	return e
}

// Count is the number of panics recovered so far.
func (p *Panics) Count() int64 {
	if p == nil {
		return 0
	}
	return p.n.Load()
}

// Meta returns the _meta of any request params, or nil: for a nil
// interface and for a typed nil pointer alike (a request sent without
// params reaches handlers as a non-nil mcp.Params holding a nil pointer,
// whose GetMeta would dereference nil). Read _meta only through Meta.
func Meta(p mcp.Params) mcp.Meta {
	if IsNil(p) {
		return nil
	}
	return p.GetMeta()
}

// IsNil reports whether v (params, a result, an input request: any
// interface value the SDK hands over) is nil or holds a nil pointer, the
// typed nil a request without params arrives as.
func IsNil(v any) bool {
	if v == nil {
		return true
	}
	r := reflect.ValueOf(v)
	return r.Kind() == reflect.Pointer && r.IsNil()
}
