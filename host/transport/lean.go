package transport

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/request"
	"github.com/argusmcp/argus/host/transport/session"
)

// The lean path serves tools/call, the one method clients call in a loop,
// resources/read and prompts/get, the other calls a client makes again
// and again, and the lists (answered from the catalogue; some clients
// list before every call) without the SDK's streamable HTTP server: the
// SDK decodes every message
// several times over with a fresh 32 KiB buffer each and hands it through
// its session's goroutines and an SSE stream, which costs more than the
// rest of a proxied call together. On the lean path the transport reads
// the body once, the gateway runs the same chain (policy, quota, audit,
// telemetry, routing) with the same SDK session, and the answer goes back
// as application/json — or, if the call sends the client anything while
// it runs (progress, log messages, requests for input), as an SSE stream
// begun with that first message, as the specification allows.
//
// Requests of the stateless revision (2026-07-28), which carry no session,
// take the lean path too: the gateway makes for each the session the SDK's
// stateless handler would have made (from the request's _meta), and an
// error the revision gives an HTTP status of its own gets it (SEP-2575).
//
// Everything the SDK would judge differently (a new or unknown session,
// another user's session, headers it would refuse, a batch, a stateless
// request whose _meta or standard headers it would refuse, parameters it
// would not decode) goes the SDK's way as before: the lean path only ever
// serves what the SDK would have served, and serves it the same.

// Lean serves one request (a LeanMethods method) of the stateful session
// ss, or of the stateless revision if ss is nil, on the lean path, with
// ctx carrying the request's facts and its request.Stream. It returns ok
// false, having done nothing, when the SDK should serve the request
// instead; the gateway implements it.
type Lean func(ctx context.Context, ss *mcp.ServerSession, method string, params json.RawMessage, header http.Header) (res mcp.Result, err error, ok bool)

// LeanMethods are the methods the lean path may serve: the calls, the
// lists, which Argus answers from its catalogue and some clients fetch
// before every call, and completion/complete, which an editor may send
// at every keystroke.
var LeanMethods = map[string]bool{"tools/call": true, "resources/read": true, "prompts/get": true,
	"tools/list": true, "prompts/list": true, "resources/list": true, "resources/templates/list": true,
	"completion/complete": true}

// serveLean serves msg, a request of a LeanMethods method on an existing
// session, on the lean path if it can; false leaves the request to the
// SDK untouched.
func (h *mcpHandler) serveLean(w http.ResponseWriter, r *http.Request, e *session.Entry, msg *sniffed, facts request.Facts) bool {
	if !session.Eligible(r, e.Session()) {
		return false
	}
	id, ok := session.CallKey(msg.ID)
	if !ok {
		return false
	}
	// As on the SDK's path for a stateful session, a client that goes away
	// does not cancel its call; notifications/cancelled and the session's
	// end do.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	switch err := e.BeginCall(id, cancel); {
	case err == session.ErrDuplicateID:
		// The SDK's refusal, as it would answer had it served both.
		writeRPCError(w, http.StatusBadRequest, msg.ID, request.CodeInvalidRequest, err.Error()+" "+id[1:])
		return true
	case err != nil:
		return false
	}
	// The id is freed once: when the call has its result, before the
	// answer is written (a client may use it again as soon as it reads
	// the answer), or on the way out if it never got that far.
	endCall := sync.OnceFunc(func() { e.EndCall(id) })
	defer endCall()
	st := session.NewStream(w, e)
	// What may wait until the client has its answer (spans, metrics:
	// request.LateObserver) runs after it is sent; it ran, or runs, before
	// the handler returns in any case.
	late := &request.AfterAnswer{Panics: h.opts.Panics}
	defer late.Run()
	ctx = request.WithAfterAnswer(request.WithStream(request.WithFacts(ctx, facts), st), late)
	res, err, ok := h.opts.Lean(ctx, e.Session(), msg.Method, msg.Params, r.Header)
	if !ok {
		return false
	}
	endCall()
	st.Finish(msg.ID, res, err)
	if late.Pending() {
		// The answer goes out now, then the rest of the work.
		st.Flush()
		late.Run()
	}
	return true
}

// serveStatelessLean serves msg, a request of a LeanMethods method of the
// stateless revision (no session), on the lean path if it can; false
// leaves the request to the SDK's stateless handler untouched. The
// gateway is handed no session (Lean with ss nil): it makes the one the
// SDK would have made, from the request's _meta, once it has read the
// parameters.
func (h *mcpHandler) serveStatelessLean(w http.ResponseWriter, r *http.Request, msg *sniffed, facts request.Facts) bool {
	if !session.EligibleStateless(r, msg.Method) {
		return false
	}
	// As the SDK's stateless handler is set up
	// (PropagateRequestCancellation): a client that goes away cancels
	// its call, which has no session to send notifications/cancelled on.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	st := session.NewStream(w, nil)
	late := &request.AfterAnswer{Panics: h.opts.Panics}
	defer late.Run()
	ctx = request.WithAfterAnswer(request.WithStream(request.WithFacts(ctx, facts), st), late)
	res, err, ok := h.opts.Lean(ctx, nil, msg.Method, msg.Params, r.Header)
	if !ok {
		return false
	}
	st.Finish(msg.ID, res, err)
	if late.Pending() {
		st.Flush()
		late.Run()
	}
	return true
}

// interceptLean takes the client messages that belong to lean calls off
// the SDK's path: answers to requests sent on a lean stream, and
// notifications/cancelled for a lean call. It reports whether it handled
// msg (the client got 202 Accepted). A message sniffPlain did not read
// (plain false: other members, escaped keys) is read here as the SDK
// reads it, since the SDK accepts it all the same.
func interceptLean(w http.ResponseWriter, e *session.Entry, msg *sniffed, plain bool, body []byte) bool {
	type message struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Method  *string         `json:"method"`
		Params  json.RawMessage `json:"params"`
		Result  json.RawMessage `json:"result"`
		Error   *jsonrpc.Error  `json:"error"`
	}
	isCall, method, rawID, params := msg.hasMethod, msg.Method, msg.ID, msg.Params
	if plain && !msg.version2() {
		return false // the SDK refuses it
	}
	if !plain {
		m := new(message)
		if request.Decode(body, m) != nil || m.JSONRPC != "2.0" { // a batch, or refused by the SDK
			return false
		}
		isCall, rawID, params = m.Method != nil, m.ID, m.Params
		if isCall {
			method = *m.Method
		}
	}
	switch {
	case !isCall: // a response: the checks before let no other message without a method through
		var id string
		if request.Decode(rawID, &id) != nil || !strings.HasPrefix(id, session.IDPrefix) {
			return false
		}
		var m message
		if request.Decode(body, &m) != nil {
			return false
		}
		r := session.Reply{Result: m.Result}
		if m.Error != nil {
			r.Err = m.Error
		}
		if !e.Deliver(id, r) {
			return false
		}
	case method == "notifications/cancelled":
		var p struct {
			RequestID json.RawMessage `json:"requestId"`
		}
		if request.Decode(params, &p) != nil {
			return false
		}
		if key, ok := session.CallKey(p.RequestID); !ok || !e.CancelCall(key) {
			return false
		}
	default:
		return false
	}
	w.WriteHeader(http.StatusAccepted)
	return true
}
