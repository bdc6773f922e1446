// Package transport connects MCP clients to the gateway: streamable HTTP at
// /mcp (with bearer-token auth and per-request facts for the chain) and
// stdio for `argus serve -stdio`.
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
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/gateway"
	"github.com/argusmcp/argus/host/request"
)

// Refuser is told about requests refused before they reach the MCP layer,
// so observers (audit) see denials too. *gateway.Gateway implements it.
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
	Logger         hclog.Logger
	// Panics records a panic recovered while serving a request (the
	// client gets HTTP 500 with a JSON-RPC internal error); nil recovers
	// without recording.
	Panics *request.Panics
}

// NewMCPHandler returns the handler for /mcp: authentication, then the
// SDK's streamable HTTP transport (stateful sessions, DNS-rebinding
// protection on).
func NewMCPHandler(o HTTPOptions) http.Handler {
	if o.MaxRequestBytes <= 0 {
		o.MaxRequestBytes = config.DefaultMaxRequestBytes
	}
	getServer := func(*http.Request) *mcp.Server { return o.Server }
	stateful := mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{
		SessionTimeout:      o.SessionTimeout,
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
		if r.Header.Get("Mcp-Session-Id") == "" && r.Header.Get("MCP-Protocol-Version") >= StatelessRevision {
			stateless.ServeHTTP(w, r)
			return
		}
		stateful.ServeHTTP(w, r)
	})
	var inner http.Handler = streamable
	var tokens *tokenSet
	if o.Auth != nil {
		tokens = newTokenSet(o.Auth.Tokens)
		// The SDK binds each session to the user that created it and refuses
		// the session id to anyone else; it learns the user from TokenInfo.
		inner = auth.RequireBearerToken(func(ctx context.Context, _ string, _ *http.Request) (*auth.TokenInfo, error) {
			user, ok := ctx.Value(userKey{}).(string)
			if !ok {
				return nil, auth.ErrInvalidToken
			}
			return &auth.TokenInfo{UserID: user, Expiration: time.Now().Add(24 * time.Hour)}, nil
		}, nil)(streamable)
	}
	return &mcpHandler{opts: o, tokens: tokens, next: inner}
}

// StatelessRevision is the first MCP revision without sessions.
const StatelessRevision = "2026-07-28"

type userKey struct{}

type mcpHandler struct {
	opts   HTTPOptions
	tokens *tokenSet
	next   http.Handler
}

func (h *mcpHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var msg sniffed
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
	for _, k := range gateway.InternalHeaders {
		r.Header.Del(k)
	}
	ip := clientIP(r, h.opts.TrustedProxies)
	r.Header.Set(gateway.HeaderClientIP, ip)
	r.Header.Set(gateway.HeaderTransport, request.TransportHTTP)

	if r.Method == http.MethodPost {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxRequestBytes))
		r.Body.Close()
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				writeRPCError(w, http.StatusRequestEntityTooLarge, nil, request.CodeInvalidRequest,
					fmt.Sprintf("request body exceeds %d bytes", h.opts.MaxRequestBytes))
				return
			}
			writeRPCError(w, http.StatusBadRequest, nil, request.CodeParseError, "cannot read request body")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		// One parse serves both purposes: a syntax error is answered here,
		// a well-formed id is picked up (a batch or other shape is left to
		// the SDK).
		var syntax *json.SyntaxError
		switch err := json.Unmarshal(body, &msg); {
		case errors.As(err, &syntax), len(bytes.TrimSpace(body)) == 0:
			writeRPCError(w, http.StatusBadRequest, nil, request.CodeParseError, "parse error: request body is not valid JSON")
			return
		case err == nil && len(msg.ID) > 0 && string(msg.ID) != "null":
			r.Header.Set(gateway.HeaderJSONRPCID, string(msg.ID))
		}
		// The SDK rejects invalid requests (unknown method, missing params)
		// with a plain-text 400; clients expect a JSON-RPC error object.
		w = &rpcErrorWriter{ResponseWriter: w, id: msg.ID}
		defer w.(*rpcErrorWriter).finish()
	}

	if h.tokens != nil {
		user, err := h.tokens.verify(r.Header.Get("Authorization"))
		if err != nil {
			h.refuse(r, ip, &msg, err)
			w.Header().Set("WWW-Authenticate", `Bearer realm="argus"`)
			writeRPCError(w, http.StatusUnauthorized, msg.ID, request.CodeUnauthorized, "unauthorized: "+err.Error())
			return
		}
		r.Header.Set(gateway.HeaderUserID, user)
		r = r.WithContext(context.WithValue(r.Context(), userKey{}, user))
	}
	h.next.ServeHTTP(w, r)
}

// refuse tells the Refuser about a denied request that would have reached
// a backend, so it is observed like any other call.
func (h *mcpHandler) refuse(r *http.Request, ip string, msg *sniffed, err error) {
	if h.opts.Logger != nil {
		h.opts.Logger.Info("refused unauthenticated request", "client_ip", ip, "method", msg.Method, "reason", err)
	}
	if h.opts.Refuser == nil || msg.Method == "" || len(msg.ID) == 0 {
		return
	}
	c := &request.Call{
		JSONRPCID: string(msg.ID),
		SessionID: r.Header.Get("Mcp-Session-Id"),
		ClientIP:  ip,
		Transport: request.TransportHTTP,
		Method:    msg.Method,
		AuthErr:   err,
	}
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
)

func (s *tokenSet) verify(header string) (string, error) {
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

// clientIP is the request's client address: the peer, or, when the peer
// is a trusted proxy, the right-most address in X-Forwarded-For that is
// not itself a trusted proxy (addresses further left could be forged by
// the client).
func clientIP(r *http.Request, trusted []netip.Prefix) string {
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
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"jsonrpc": "2.0",
		"id":      id,
		"error":   map[string]any{"code": code, "message": msg},
	})
}

// rpcErrorWriter turns a plain-text 400 written by the SDK's transport into
// a JSON-RPC error response with the request's id, keeping the status.
// Every other response passes through untouched, streaming included.
type rpcErrorWriter struct {
	http.ResponseWriter
	id      json.RawMessage
	capture bool
	msg     bytes.Buffer
}

func (w *rpcErrorWriter) WriteHeader(code int) {
	if code == http.StatusBadRequest && strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		w.capture = true
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *rpcErrorWriter) Write(b []byte) (int, error) {
	if w.capture {
		return w.msg.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets streaming (SSE) responses through the wrapper.
func (w *rpcErrorWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok && !w.capture {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *rpcErrorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *rpcErrorWriter) finish() {
	if !w.capture {
		return
	}
	msg := strings.TrimSpace(w.msg.String())
	code := request.CodeInvalidRequest
	switch {
	case strings.Contains(msg, "not handled") || strings.Contains(msg, "unsupported"):
		code = request.CodeMethodNotFound
	case strings.Contains(msg, "malformed") || strings.Contains(msg, "unmarshal"):
		code = request.CodeParseError
	case strings.Contains(msg, "invalid params"):
		code = request.CodeInvalidParams
	}
	w.Header().Del("X-Content-Type-Options")
	writeRPCError(w.ResponseWriter, http.StatusBadRequest, w.id, code, msg)
}
