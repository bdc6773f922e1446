// Package transport connects MCP clients to the gateway: streamable HTTP at
// /mcp (with bearer-token auth and per-request facts for the chain, and
// the lean path for tools/call, lean.go) and stdio for `argus serve
// -stdio`.
package transport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/identity"
	"github.com/argusmcp/argus/host/request"
	"github.com/argusmcp/argus/host/revision"
	"github.com/argusmcp/argus/host/transport/session"
)

// Refuser is told about requests refused before they reach the MCP layer,
// so observers (audit) see denials too. The gateway implements it.
type Refuser interface {
	Refuse(ctx context.Context, c *request.Call)
}

// HTTPOptions configure the client-facing HTTP handler.
type HTTPOptions struct {
	Server *mcp.Server
	// Auth lists accepted bearer tokens; nil accepts anonymous clients.
	Auth *config.Auth
	// MaxRequestBytes caps one request body (default config.DefaultMaxRequestBytes).
	MaxRequestBytes int64
	// SessionTimeout closes idle sessions; 0 never does.
	SessionTimeout time.Duration
	// Refuser, if set, sees every request refused for lack of credentials.
	Refuser Refuser
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// Sessions, if set, limits the stateful sessions clients may open.
	Sessions *SessionLimits
	// Tool, if set, looks up an exposed tool, so that the Mcp-Param-*
	// headers of a 2026-07-28 tools/call can be checked against its input
	// schema (SEP-2243). Nil skips that check.
	Tool   func(name string) (*mcp.Tool, bool)
	Logger hclog.Logger
	// Panics records a panic recovered while serving a request (the
	// client gets HTTP 500 with a JSON-RPC internal error); nil recovers
	// without recording.
	Panics *request.Panics
	// Lean, if set, serves tools/call on existing sessions off the SDK's
	// path (see Lean); the gateway's ServeLean.
	Lean Lean
}

// NewMCPHandler returns the handler for /mcp: authentication, then the
// SDK's streamable HTTP transport (stateful sessions, DNS-rebinding
// protection on).
func NewMCPHandler(o HTTPOptions) http.Handler {
	if o.MaxRequestBytes <= 0 {
		o.MaxRequestBytes = config.DefaultMaxRequestBytes
	}
	getServer := func(*http.Request) *mcp.Server { return o.Server }
	// Idle sessions are closed by the session table, which sees the
	// requests the lean path serves as well.
	stateful := mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{
		MaxRequestBodyBytes: o.MaxRequestBytes,
	})
	// Clients of the stateless revision (2026-07-28 and later) send no
	// initialize and no session id; a stateful handler would open a session
	// per request that nothing ever closes.
	stateless := mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{
		Stateless:                    true,
		MaxRequestBodyBytes:          o.MaxRequestBytes,
		PropagateRequestCancellation: true,
	})
	var streamable http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isStateless(r) {
			stateless.ServeHTTP(w, r)
			return
		}
		stateful.ServeHTTP(w, r)
	})
	var tokens *tokenSet
	var jwts *identity.Verifier
	if o.Auth != nil {
		tokens = newTokenSet(o.Auth.Tokens)
		jwts = identity.New(o.Auth, identity.Options{})
	}
	h := &mcpHandler{opts: o, tokens: tokens, jwts: jwts, next: carryFacts(streamable), sessions: session.NewTable(o.SessionTimeout)}
	if o.Server != nil {
		o.Server.AddReceivingMiddleware(h.noteInitialize)
	}
	return h
}

// noteInitialize keeps the session an initialize request arrives on, by
// its id, for the handler that serves that request to take (opened): the
// SDK hands the handler only the id, in the response's header, and
// finding the session by it among the server's meant a copy and a scan of
// every open session for each new one (14% of the CPU of opening the
// 10,000th session).
func (h *mcpHandler) noteInitialize(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if method == "initialize" {
			if ss, ok := req.GetSession().(*mcp.ServerSession); ok && ss != nil {
				if id := ss.ID(); id != "" {
					h.initialized.Store(id, ss)
				}
			}
		}
		return next(ctx, method, req)
	}
}

// opened takes the session noteInitialize kept under id, or nil.
func (h *mcpHandler) opened(id string) *mcp.ServerSession {
	if id == "" {
		return nil
	}
	v, ok := h.initialized.LoadAndDelete(id)
	if !ok {
		return nil
	}
	return v.(*mcp.ServerSession)
}

// carryFacts hands each request's request.Facts (request.WithFacts on its
// context) to the MCP layer below next. The SDK gives a request handler
// nothing of the HTTP request's context but the auth.TokenInfo that
// auth.RequireBearerToken stores there, so the facts ride in one
// (request.Facts.TokenInfo); its UserID is also how the SDK binds a
// session to the user who opened it and refuses it to anyone else.
//
// RequireBearerToken insists on a bearer Authorization header; the client
// has been authenticated already (or needs no credentials), so it is shown
// a stand-in one and next sees the client's own headers again.
func carryFacts(next http.Handler) http.Handler {
	bearer := auth.RequireBearerToken(func(ctx context.Context, _ string, _ *http.Request) (*auth.TokenInfo, error) {
		f, ok := request.FactsFrom(ctx)
		if !ok {
			return nil, auth.ErrInvalidToken
		}
		return f.TokenInfo(), nil
	}, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header = r.Context().Value(clientHeaderKey{}).(http.Header)
		next.ServeHTTP(w, r)
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(context.WithValue(r.Context(), clientHeaderKey{}, r.Header))
		r.Header = http.Header{"Authorization": {"Bearer facts"}}
		bearer.ServeHTTP(w, r)
	})
}

// clientHeaderKey holds the client's request headers while carryFacts
// shows RequireBearerToken its stand-in.
type clientHeaderKey struct{}

// isStateless tells requests of the stateless revision, which open no
// session, from those of older revisions.
func isStateless(r *http.Request) bool {
	return r.Header.Get("Mcp-Session-Id") == "" && revision.IsStateless(r.Header.Get("MCP-Protocol-Version"))
}

type mcpHandler struct {
	opts   HTTPOptions
	tokens *tokenSet
	jwts   *identity.Verifier // nil: no jwt blocks
	next   http.Handler
	// sessions are the stateful sessions opened through this handler.
	sessions *session.Table
	// initialized holds each session an initialize arrived on (id →
	// *mcp.ServerSession) until the handler that opened it takes it
	// (opened), or it closes.
	initialized sync.Map
}

func (h *mcpHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var msg sniffed
	var plain bool // msg was read by sniffPlain
	var body []byte
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler {
			panic(v) // net/http's own way to abort a response
		}
		e := h.opts.Panics.Recovered(v, "http handler", "method", msg.Method)
		// If the response had begun, net/http ignores the status; the
		// client then sees a truncated answer, as with any failed write.
		writeRPCError(w, http.StatusInternalServerError, msg.ID, int(e.Wire.Code), e.Wire.Message)
	}()
	ip := ClientIP(r, h.opts.TrustedProxies)
	facts := request.Facts{ClientIP: ip, Transport: request.TransportHTTP}
	// The SDK refuses requests (bad Host, wrong content type, unknown
	// session, wrong user, invalid request) with plain-text errors;
	// clients expect a JSON-RPC error object.
	rw := &rpcErrorWriter{ResponseWriter: w}
	defer rw.finish()
	w = rw

	if r.Method == http.MethodPost {
		var err error
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxRequestBytes))
		r.Body.Close()
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				writeRPCError(w, http.StatusRequestEntityTooLarge, nil, request.CodeInvalidRequest,
					fmt.Sprintf("request body exceeds %d bytes", h.opts.MaxRequestBytes))
				return
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				writeRPCError(w, http.StatusRequestTimeout, nil, request.CodeInvalidRequest, "request body not received in time")
				return
			}
			writeRPCError(w, http.StatusBadRequest, nil, request.CodeParseError, "cannot read request body")
			return
		}
		if !json.Valid(body) {
			writeRPCError(w, http.StatusBadRequest, nil, request.CodeParseError, "parse error: request body is not valid JSON")
			return
		}
		// Valid JSON that is no JSON-RPC message is an invalid request;
		// the SDK would call it a parse error.
		var sniffedOK bool
		sniffedOK, plain = sniffPlain(body, &msg)
		if !plain {
			if err := checkMessages(body); err != nil {
				writeRPCError(w, http.StatusBadRequest, nil, request.CodeInvalidRequest, "invalid request: "+err.Error())
				return
			}
			msg = sniffed{}
			sniffedOK = json.Unmarshal(body, &msg) == nil
		} else if err := checkPlain(&msg); err != nil {
			writeRPCError(w, http.StatusBadRequest, nil, request.CodeInvalidRequest, "invalid request: "+err.Error())
			return
		}
		if sniffedOK && len(msg.ID) > 0 && string(msg.ID) != "null" {
			facts.JSONRPCID = string(msg.ID)
		}
		rw.id = msg.ID
	}

	var user string
	if h.tokens != nil {
		id, err := h.authenticate(r)
		if err != nil {
			h.refuse(r, facts, &msg, err)
			status := http.StatusUnauthorized
			var ie *identity.Error
			if errors.As(err, &ie) {
				status = ie.Status()
			}
			w.Header().Set("WWW-Authenticate", identity.Challenge(h.opts.Auth, r, err))
			writeRPCError(w, status, msg.ID, request.CodeUnauthorized, "unauthorized: "+err.Error())
			return
		}
		user = id.UserID
		facts.UserID, facts.Issuer, facts.Groups, facts.Scopes, facts.Claims, facts.Expiry =
			id.UserID, id.Issuer, id.Groups, id.Scopes, id.Claims, id.Expiry
	}
	if err := h.checkParamHeaders(r, &msg); err != nil {
		writeRPCError(w, http.StatusBadRequest, msg.ID, mcp.CodeHeaderMismatch, err.Error())
		return
	}
	sid := r.Header.Get("Mcp-Session-Id")
	isRequest := msg.Method != "" && len(msg.ID) > 0 && string(msg.ID) != "null"
	// A single plain request of a method the lean path serves, which it
	// may take (serveLean, serveStatelessLean decide).
	// An id holding bytes that are not UTF-8, or escapes (a lone
	// surrogate among them), goes to the SDK, which answers with the id
	// it decoded written as encoding/json writes a string (U+FFFD for
	// what is no character); the lean path echoes an id as the client
	// wrote it.
	leanable := plain && h.opts.Lean != nil && LeanMethods[msg.Method] && isRequest && msg.version2() &&
		utf8.Valid(msg.ID) && bytes.IndexByte(msg.ID, '\\') < 0
	// A request of the stateless revision opens no session: the lean path
	// may serve it too, with the session the SDK would have made for it.
	if r.Method == http.MethodPost && sid == "" && leanable && isStateless(r) && h.serveStatelessLean(w, r, &msg, facts) {
		return
	}
	// A POST to a session its owner opened through this handler (another
	// user's is the SDK's to refuse): the idle clock stops while it is
	// served, and the lean path may serve it.
	if e := h.sessions.Get(sid); r.Method == http.MethodPost && e != nil && e.User() == facts.UserID {
		e.StartPOST()
		defer e.EndPOST()
		if leanable && h.serveLean(w, r, e, &msg, facts) {
			return
		}
		if interceptLean(w, e, &msg, plain, body) {
			return
		}
		// A request the SDK serves holds its id against the lean path
		// until answered, and is refused while a lean call holds it.
		if key, ok := session.CallKey(msg.ID); isRequest && ok {
			if err := e.BeginSDK(key); err != nil {
				writeRPCError(w, http.StatusBadRequest, msg.ID, request.CodeInvalidRequest, err.Error()+" "+key[1:])
				return
			}
			defer e.EndSDK(key)
		}
	}
	// A POST without a session id makes the SDK open a session.
	if r.Method == http.MethodPost && sid == "" && !isStateless(r) {
		var slot *sessionSlot
		if lim := h.opts.Sessions; lim != nil {
			var reason string
			var status int
			slot, reason, status = lim.reserve(ip, user)
			if slot == nil {
				if h.opts.Logger != nil && lim.shouldWarn() {
					h.opts.Logger.Warn("refusing new client sessions: limit reached (logged at most every 10s)", "client_ip", ip, "user", user, "limit", reason, "refused", lim.Refused())
				}
				w.Header().Set("Retry-After", "1")
				writeRPCError(w, status, msg.ID, request.CodeLimitReached, lim.refusal(reason))
				return
			}
		}
		defer func() {
			ss := h.opened(w.Header().Get("Mcp-Session-Id"))
			if ss == nil {
				// No session (initialize failed): nothing to hold.
				if slot != nil {
					slot.release()
				}
				return
			}
			id := ss.ID()
			// Its slot is kept until it closes. A second initialize on the
			// open session (kept by noteInitialize, never taken) goes then.
			h.sessions.Add(ss, user, func() {
				h.initialized.Delete(id)
				if slot != nil {
					slot.release()
				}
			})
		}()
	}
	if body != nil {
		// The SDK reads the body again; the lean path had it as bytes.
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	h.next.ServeHTTP(w, r.WithContext(request.WithFacts(r.Context(), facts)))
	// The SDK binds a session to the user who opened it and refuses it to
	// anyone else; such an attempt is logged and audited, not only refused.
	if status, text := rw.refusal(); status == http.StatusForbidden && text == sdkUserMismatch {
		h.refuse(r, facts, &msg, errSessionOwner)
	}
}

// checkParamHeaders applies revision.CheckParamHeaders to a 2026-07-28
// tools/call: the SDK checks the other standard headers itself.
func (h *mcpHandler) checkParamHeaders(r *http.Request, msg *sniffed) error {
	if h.opts.Tool == nil || msg.Method != "tools/call" || !revision.IsStateless(r.Header.Get("MCP-Protocol-Version")) {
		return nil
	}
	var p struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	}
	if request.Decode(msg.Params, &p) != nil { // as the SDK reads them: case-sensitive
		return nil
	}
	tool, ok := h.opts.Tool(p.Name)
	if !ok {
		return nil
	}
	return revision.CheckParamHeaders(r.Header, tool, p.Arguments)
}

// sdkUserMismatch is the SDK's refusal of a session id presented by a user
// other than the session's.
const sdkUserMismatch = "session user mismatch"

// refuse logs a denied request and tells the Refuser about it, so that
// one which would have reached a backend is observed (audited) like any
// other call. f.UserID is the authenticated user, "" if authentication
// failed.
func (h *mcpHandler) refuse(r *http.Request, f request.Facts, msg *sniffed, err error) {
	ip, user := f.ClientIP, f.UserID
	if h.opts.Logger != nil {
		method := request.Clip(msg.Method, 256) // whatever the client wrote
		if user == "" {
			h.opts.Logger.Info("refused unauthenticated request", "client_ip", ip, "method", method, "reason", err)
		} else {
			h.opts.Logger.Warn("refused request", "client_ip", ip, "user", user, "http_method", r.Method, "method", method, "reason", err)
		}
	}
	if h.opts.Refuser == nil || msg.Method == "" || len(msg.ID) == 0 {
		return
	}
	c := &request.Call{
		Facts:     f,
		SessionID: r.Header.Get("Mcp-Session-Id"),
		Method:    msg.Method,
		AuthErr:   err,
	}
	c.JSONRPCID = string(msg.ID)
	var p struct {
		Name string `json:"name"`
		URI  string `json:"uri"`
	}
	if json.Unmarshal(msg.Params, &p) == nil {
		c.Capability = p.Name + p.URI
	}
	h.opts.Refuser.Refuse(r.Context(), c)
}

type sniffed struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`

	// Set by sniffPlain only: the members the message has, and the
	// jsonrpc member's value as written.
	hasJSONRPC, hasID, hasMethod, hasParams, hasResult, hasError bool
	jsonrpc                                                      []byte
}

// version2 reports whether sniffPlain read the jsonrpc member as "2.0",
// the only version tag the SDK accepts: a message with another, or
// none, takes the SDK's path and its refusal.
func (m *sniffed) version2() bool { return string(m.jsonrpc) == `"2.0"` }

// sniffPlain reads a POST body, valid JSON, without allocating, when it
// is a plain JSON-RPC message: one object whose members are all among
// jsonrpc, id, method, params, result and error, each at most once,
// written without escapes in the keys, with method (if any) a string
// without escapes. It fills msg as json.Unmarshal would (ID and Params
// alias body) and reports plain; ok is what json.Unmarshal into msg would
// have reported. Anything else (a batch, other or duplicate members,
// escapes) is not plain and takes checkMessages and json.Unmarshal, which
// the plain path agrees with (FuzzSniffPlain); plain is the path of every
// request a client sends, and the other one costs two dozen allocations.
func sniffPlain(body []byte, msg *sniffed) (ok, plain bool) {
	var m sniffed
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return false, false
	}
	i = skipSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		return true, skipSpace(body, i+1) == len(body) && setSniffed(msg, m)
	}
	for i < len(body) {
		if body[i] != '"' {
			return false, false
		}
		end := bytes.IndexByte(body[i+1:], '"')
		if end < 0 {
			return false, false
		}
		key := body[i+1 : i+1+end]
		if bytes.IndexByte(key, '\\') >= 0 {
			return false, false
		}
		i = skipSpace(body, i+end+2)
		if i >= len(body) || body[i] != ':' {
			return false, false
		}
		i = skipSpace(body, i+1)
		vend := skipValue(body, i)
		if vend < 0 {
			return false, false
		}
		val := body[i:vend]
		var seen *bool
		switch string(key) {
		case "jsonrpc":
			seen, m.jsonrpc = &m.hasJSONRPC, val
		case "id":
			seen, m.ID = &m.hasID, val
		case "method":
			// json.Unmarshal would unescape, and replace invalid UTF-8.
			if len(val) < 2 || val[0] != '"' || bytes.IndexByte(val, '\\') >= 0 || !utf8.Valid(val) {
				return false, false
			}
			seen, m.Method = &m.hasMethod, string(val[1:len(val)-1])
		case "params":
			seen, m.Params = &m.hasParams, val
		case "result":
			seen = &m.hasResult
		case "error":
			seen = &m.hasError
		default:
			return false, false
		}
		if *seen {
			return false, false // a duplicate: the general path decides
		}
		*seen = true
		i = skipSpace(body, vend)
		if i < len(body) && body[i] == ',' {
			i = skipSpace(body, i+1)
			continue
		}
		if i < len(body) && body[i] == '}' {
			return true, skipSpace(body, i+1) == len(body) && setSniffed(msg, m)
		}
		return false, false
	}
	return false, false
}

func setSniffed(msg *sniffed, m sniffed) bool {
	*msg = m
	return true
}

// checkPlain is checkMessage for a message sniffPlain read.
func checkPlain(m *sniffed) error {
	switch {
	case !m.hasMethod && !m.hasResult && !m.hasError:
		return errors.New("not a request, notification or response: no method")
	case m.hasID:
		return checkID(m.ID)
	}
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the JSON value at b[i] (b is valid JSON),
// -1 if there is none.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				if i = skipString(b, i); i < 0 {
					return -1
				}
				i--
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	}
	for j := i; j < len(b); j++ {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j
		}
	}
	return len(b)
}

// skipString returns the end of the string whose opening quote is at b[i].
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// tokenSet verifies bearer tokens in constant time: every configured token
// is compared, by SHA-256 digest so that lengths do not leak either.
type tokenSet struct {
	digests [][32]byte
	users   []string
}

func newTokenSet(tokens []config.Token) *tokenSet {
	s := &tokenSet{}
	for _, t := range tokens {
		s.digests = append(s.digests, sha256.Sum256([]byte(t.Value)))
		s.users = append(s.users, t.UserID)
	}
	return s
}

var (
	errNoToken  = errors.New("missing bearer token")
	errBadToken = errors.New("invalid bearer token")
	// errAmbiguousToken: more than one Authorization header; which one
	// counts is not for a proxy in between and Argus to disagree on.
	errAmbiguousToken = &identity.Error{Code: identity.CodeInvalidRequest, Description: "more than one Authorization header"}
	// errSessionOwner: a valid token presented another user's session id.
	errSessionOwner = errors.New("session belongs to another user")
)

// verify checks the request's Authorization header values: exactly one,
// a bearer token that is configured.
func (s *tokenSet) verify(headers []string) (string, error) {
	if len(headers) > 1 {
		return "", errAmbiguousToken
	}
	var header string
	if len(headers) == 1 {
		header = headers[0]
	}
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", errNoToken
	}
	d := sha256.Sum256([]byte(strings.TrimSpace(token)))
	match := -1
	for i := range s.digests {
		if subtle.ConstantTimeCompare(d[:], s.digests[i][:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return "", errBadToken
	}
	return s.users[match], nil
}

// ClientIP is the request's client address: the peer, or, when the peer
// is a trusted proxy, the right-most address in X-Forwarded-For that is
// not itself a trusted proxy (addresses further left could be forged by
// the client).
func ClientIP(r *http.Request, trusted []netip.Prefix) string {
	peer := peerIP(r)
	if len(trusted) == 0 || !isTrusted(peer, trusted) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if _, err := netip.ParseAddr(hop); err != nil {
			break // garbage: stop at the last address we could trust
		}
		client = hop
		if !isTrusted(hop, trusted) {
			break
		}
	}
	return client
}

func isTrusted(ip string, trusted []netip.Prefix) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func writeRPCError(w http.ResponseWriter, status int, id json.RawMessage, code int, msg string) {
	var idValue any = id
	switch {
	case len(id) == 0:
		idValue = nil
	case !utf8.Valid(id):
		// Bytes that are not UTF-8 (in a string id) are written as
		// U+FFFD, as encoding/json writes a string and the SDK answers.
		json.Unmarshal(id, &idValue)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"jsonrpc": "2.0",
		"id":      idValue,
		"error":   map[string]any{"code": code, "message": msg},
	})
}

// rpcErrorWriter turns a plain-text error written by the SDK's transport
// into a JSON-RPC error response with the same status: a 400 carries the
// request's id (if it had one), every other refusal (403, 404, 405, 415)
// id null. Every other response passes through untouched, streaming
// included.
type rpcErrorWriter struct {
	http.ResponseWriter
	id     json.RawMessage // the request's id, for 400 answers
	status int             // status of a captured plain-text error; 0: none
	msg    bytes.Buffer
}

func (w *rpcErrorWriter) WriteHeader(code int) {
	if code >= 400 && strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		w.status = code
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *rpcErrorWriter) Write(b []byte) (int, error) {
	if w.status != 0 {
		return w.msg.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets streaming (SSE) responses through the wrapper.
func (w *rpcErrorWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok && w.status == 0 {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *rpcErrorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// refusal is the captured plain-text error, if any.
func (w *rpcErrorWriter) refusal() (int, string) {
	return w.status, strings.TrimSpace(w.msg.String())
}

func (w *rpcErrorWriter) finish() {
	status, msg := w.refusal()
	if status == 0 {
		return
	}
	// A body the SDK calls malformed (a jsonrpc other than "2.0", a member
	// of the wrong type) is valid JSON by then (ServeHTTP refuses any other
	// with a parse error first): an invalid request.
	code, id := request.CodeInvalidRequest, json.RawMessage(nil)
	if status == http.StatusBadRequest {
		id = w.id
		switch {
		case strings.Contains(msg, "not handled") || strings.Contains(msg, "unsupported"):
			code = request.CodeMethodNotFound
		case strings.Contains(msg, "invalid params"):
			code = request.CodeInvalidParams
		}
	}
	w.Header().Del("X-Content-Type-Options")
	writeRPCError(w.ResponseWriter, status, id, code, msg)
}

// checkMessages checks that body, valid JSON, is a JSON-RPC message or a
// non-empty batch of them: an object with a string method (a request or
// notification), or with a result or error (a client's response to a
// server request).
func checkMessages(body []byte) error {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var batch []json.RawMessage
		if err := json.Unmarshal(body, &batch); err != nil {
			return err
		}
		if len(batch) == 0 {
			return errors.New("empty batch")
		}
		for _, m := range batch {
			if err := checkMessage(m); err != nil {
				return err
			}
		}
		return nil
	}
	return checkMessage(body)
}

func checkMessage(raw json.RawMessage) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return errors.New("a JSON-RPC message must be an object")
	}
	method, isCall := m["method"]
	_, hasResult := m["result"]
	_, hasError := m["error"]
	switch {
	case isCall && (len(method) == 0 || method[0] != '"'):
		return errors.New("method must be a string")
	case !isCall && !hasResult && !hasError:
		return errors.New("not a request, notification or response: no method")
	}
	if id, ok := m["id"]; ok {
		return checkID(bytes.TrimSpace(id))
	}
	return nil
}

// maxSafeID is the largest integer id the SDK answers with unchanged: it
// decodes numeric ids through float64 (2^53-1, JavaScript's
// Number.MAX_SAFE_INTEGER).
const maxSafeID = 1<<53 - 1

// checkID accepts the ids the SDK answers with exactly as sent: strings,
// integers written plainly from -(2^53-1) to 2^53-1, and null. A fraction
// (1.5), an exponent (1e3), a leading zero (01), -0 or a larger integer
// (2^70) would come back as another number, so they are refused. (Every
// request's id passes here: a loop, not a regular expression.)
func checkID(id json.RawMessage) error {
	switch {
	case string(id) == "null", len(id) > 0 && id[0] == '"':
		return nil
	case plainSafeInteger(id):
		return nil
	}
	return errors.New("id must be a string or an integer from -(2^53-1) to 2^53-1")
}

// plainSafeInteger reports whether b is an integer written plainly (an
// optional minus, no leading zero, digits only) within ±maxSafeID, and
// not -0.
func plainSafeInteger(b []byte) bool {
	digits := bytes.TrimPrefix(b, []byte("-"))
	if len(digits) == 0 || len(digits) > 16 || (digits[0] == '0' && (len(digits) > 1 || len(digits) < len(b))) {
		return false // empty, over 16 digits (> 2^53), leading zero or -0
	}
	var n int64
	for _, d := range digits {
		if d < '0' || d > '9' {
			return false
		}
		n = n*10 + int64(d-'0')
	}
	return n <= maxSafeID
}
