package transport

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/request"
	"github.com/argusmcp/argus/host/transport/session"
)

// The lean path serves tools/call, the one method clients call in a loop,
// without the SDK's streamable HTTP server: the SDK decodes every message
// several times over with a fresh 32 KiB buffer each and hands it through
// its session's goroutines and an SSE stream, which costs more than the
// rest of a proxied call together. On the lean path the transport reads
// the body once, the gateway runs the same chain (policy, quota, audit,
// telemetry, routing) with the same SDK session, and the answer goes back
// as application/json — or, if the call sends the client anything while
// it runs (progress, log messages, requests for input), as an SSE stream
// begun with that first message, as the specification allows.
//
// Everything the SDK would judge differently (a new or unknown session,
// another user's session, headers it would refuse, a batch, a request of
// the stateless revision, parameters it would not decode) goes the SDK's
// way as before: the lean path only ever serves what the SDK would have
// served, and serves it the same.

// Lean serves one tools/call of the stateful session ss on the lean path,
// with ctx carrying the request's facts and its request.Stream. It returns
// ok false, having done nothing, when the SDK should serve the request
// instead; the gateway implements it.
type Lean func(ctx context.Context, ss *mcp.ServerSession, params json.RawMessage, header http.Header) (res mcp.Result, err error, ok bool)

// serveLean serves msg, a tools/call on an existing session, on the lean
// path if it can; false leaves the request to the SDK untouched.
func (h *mcpHandler) serveLean(w http.ResponseWriter, r *http.Request, msg *sniffed, facts request.Facts) bool {
	e := h.sessions.Get(r.Header.Get("Mcp-Session-Id"))
	if e == nil || e.User() != facts.UserID || !session.Eligible(r, e.Session()) {
		return false
	}
	id := string(msg.ID)
	// As on the SDK's path for a stateful session, a client that goes away
	// does not cancel its call; notifications/cancelled and the session's
	// end do.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	if !e.BeginCall(id, cancel) {
		return false
	}
	defer e.EndCall(id)
	st := session.NewStream(w, e)
	ctx = request.WithStream(request.WithFacts(ctx, facts), st)
	res, err, ok := h.opts.Lean(ctx, e.Session(), msg.Params, r.Header)
	if !ok {
		return false
	}
	st.Finish(msg.ID, res, err)
	return true
}

// interceptLean takes the client messages that belong to lean calls off
// the SDK's path: answers to requests sent on a lean stream, and
// notifications/cancelled for a lean call. It reports whether it handled
// msg (the client got 202 Accepted).
func (h *mcpHandler) interceptLean(w http.ResponseWriter, r *http.Request, msg *sniffed, body []byte, facts request.Facts) bool {
	e := h.sessions.Get(r.Header.Get("Mcp-Session-Id"))
	if e == nil || e.User() != facts.UserID {
		return false
	}
	switch {
	case msg.Method == "" && (msg.hasResult || msg.hasError):
		var id string
		if json.Unmarshal(msg.ID, &id) != nil || !strings.HasPrefix(id, session.IDPrefix) {
			return false
		}
		var reply struct {
			Result json.RawMessage `json:"result"`
			Error  *jsonrpc.Error  `json:"error"`
		}
		if json.Unmarshal(body, &reply) != nil {
			return false
		}
		r := session.Reply{Result: reply.Result}
		if reply.Error != nil {
			r.Err = reply.Error
		}
		if !e.Deliver(id, r) {
			return false
		}
	case msg.Method == "notifications/cancelled":
		var p struct {
			RequestID json.RawMessage `json:"requestId"`
		}
		if json.Unmarshal(msg.Params, &p) != nil || !e.CancelCall(string(p.RequestID)) {
			return false
		}
	default:
		return false
	}
	w.WriteHeader(http.StatusAccepted)
	return true
}
