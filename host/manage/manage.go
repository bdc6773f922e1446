// Package manage serves the management API at /manage/v1: health and
// readiness for orchestrators (public), and for operators, behind a bearer
// token, the state of backends, capabilities, sessions, plugins and
// events, plus reconnect and reload.
package manage

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/argusmcp/argus/host/audit"
	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/gateway"
	"github.com/argusmcp/argus/host/identity"
	"github.com/argusmcp/argus/host/supervisor"
)

// Prefix is where the API is mounted.
const Prefix = "/manage/v1"

// TokenEnv names the environment variable that overrides management.token.
const TokenEnv = config.ManagementTokenEnv

// MinTokenLength is the shortest management token accepted.
const MinTokenLength = config.MinTokenLength

// ErrWeakToken is returned by ResolveToken for a token that is too short
// or a placeholder.
var ErrWeakToken = errors.New("weak management token")

// ResolveToken picks the management token ($ARGUS_MGMT_TOKEN, else the
// configured one) and refuses weak ones (see config.WeakToken, which
// configuration loading applies too). An empty $ARGUS_MGMT_TOKEN, as a
// container definition that passes on an unset variable makes it, counts
// as unset: it does not take the configured token away. "" means none is
// configured: only the public endpoints (and, with auth.admin_groups,
// admin JWTs) are served then.
func ResolveToken(configured string) (token, source string, err error) {
	token, source = configured, "management.token"
	if v, ok := os.LookupEnv(TokenEnv); ok && strings.TrimSpace(v) != "" {
		token, source = v, "$"+TokenEnv
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", "", nil
	}
	if why := config.WeakToken(token); why != "" {
		return "", source, fmt.Errorf("%w: the token from %s %s", ErrWeakToken, source, why)
	}
	return token, source, nil
}

// Gateway is what the API reads and drives; *gateway.Gateway implements it.
type Gateway interface {
	Backends() []supervisor.BackendStatus
	Backend(name string) (supervisor.BackendStatus, bool)
	Reconnect(name string) error
	Sessions() []gateway.SessionStatus
	StatelessInFlight() int
}

// Options configure the API.
type Options struct {
	Gateway Gateway
	Catalog CatalogView
	Events  EventLog
	// Admin, if set, also admits a bearer token it approves (a JWT whose
	// groups include one of auth.admin_groups), naming who holds it; nil
	// admits the management token only.
	Admin func(ctx context.Context, token string) (identity.Identity, bool)
	// Token guards every endpoint but health and ready; with Token "" and
	// no Admin they are closed (403).
	Token string
	// ClientIP, if set, is a request's client address for the audit
	// trail (the MCP endpoint's, trusted proxies honoured); nil takes the
	// peer's.
	ClientIP func(r *http.Request) string
	Version  string
	// Started reports whether start-up is done, and since when.
	Started func() (bool, time.Time)
	// Starting, if set, lists what start-up still waits for (backends
	// on their first connection attempt, plugins the serving path needs);
	// /ready answers 503 while it is not empty.
	Starting func() []string
	// Draining, if set, reports whether the process is draining before
	// shutdown (see config.Server.DrainTimeout) and when the drain ends;
	// /ready answers 503 while it is, so load balancers stop sending new
	// work, and /health is unaffected (the process is alive and serving).
	Draining func() (draining bool, until time.Time)
	// Plugins lists the plugin instances (JSON-encodable); nil for none.
	Plugins func() any
	// Reload re-reads and applies the configuration; it returns what
	// changed, with the settings that need a restart, and the rendered
	// diagnostics, which explain an invalid configuration.
	Reload func() (summary supervisor.ReloadSummary, diagnostics string, err error)
	Logger hclog.Logger
	// PanicsRecovered, if set, reports how many panics the gateway has
	// recovered (status: panics_recovered).
	PanicsRecovered func() int64
	// AuditStats, if set, reports the audit sinks' queues (JSON-encodable).
	AuditStats func() any
	// TelemetryStats, if set, reports what became of each span
	// exporter's spans (JSON-encodable).
	TelemetryStats func() any
	// Audit, if set, records every mutation (reconnect, reload) in the
	// audit trail, with who made it.
	Audit func(ctx context.Context, m audit.Mutation)
	// Heartbeat is the interval of SSE comments on /events/stream
	// (default 15s).
	Heartbeat time.Duration
	// AuditRing, if set, serves GET /audit and /audit/stream (the most
	// recent audit events); nil answers an empty list.
	AuditRing AuditRing
	// MaxStreams caps the server-sent-event streams (/events/stream and
	// /audit/stream together) open at once (default DefaultMaxStreams);
	// one more is answered 503 with Retry-After. Every audit event is
	// handed to every audit stream under one lock on the request path, so
	// their number must stay small.
	MaxStreams int
	// Traffic, if set, serves GET /traffic (request and error rates).
	Traffic *Traffic
	// Redact, if set, is applied to every response body write (see
	// logging.Secrets.Redact), so no secret leaves in an answer.
	Redact func([]byte) []byte
}

// ErrInvalidConfig is returned by Options.Reload for a configuration with
// errors; the running configuration stays.
var ErrInvalidConfig = errors.New("invalid configuration")

// API is the management API handler.
type API struct {
	o       Options
	digest  [32]byte
	mux     *http.ServeMux
	streams atomic.Int64 // open SSE streams
}

// DefaultMaxStreams is Options.MaxStreams's default.
const DefaultMaxStreams = 64

// openStream counts one more SSE stream, or answers 503 when
// Options.MaxStreams are open; the caller calls done when it ends.
func (a *API) openStream(w http.ResponseWriter) (done func(), ok bool) {
	if a.streams.Add(1) > int64(a.o.MaxStreams) {
		a.streams.Add(-1)
		w.Header().Set("Retry-After", "10")
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("too many open event streams (the limit is %d)", a.o.MaxStreams))
		return nil, false
	}
	return func() { a.streams.Add(-1) }, true
}

// New builds the API. Mount it at Prefix + "/" (it expects full paths).
func New(o Options) *API {
	if o.Heartbeat <= 0 {
		o.Heartbeat = 15 * time.Second
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = DefaultMaxStreams
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	a := &API{o: o, mux: http.NewServeMux()}
	if o.Token != "" {
		a.digest = sha256.Sum256([]byte(o.Token))
	}
	a.mux.HandleFunc("GET "+Prefix+"/health", a.health)
	a.mux.HandleFunc("GET "+Prefix+"/ready", a.ready)
	a.mux.HandleFunc("GET "+Prefix+"/status", a.status)
	a.mux.HandleFunc("GET "+Prefix+"/backends", a.backends)
	a.mux.HandleFunc("GET "+Prefix+"/backends/{name}", a.backend)
	a.mux.HandleFunc("GET "+Prefix+"/capabilities", a.capabilities)
	a.mux.HandleFunc("GET "+Prefix+"/sessions", a.sessions)
	a.mux.HandleFunc("GET "+Prefix+"/plugins", a.plugins)
	a.mux.HandleFunc("GET "+Prefix+"/events", a.events)
	a.mux.HandleFunc("GET "+Prefix+"/events/stream", a.stream)
	a.mux.HandleFunc("GET "+Prefix+"/audit", a.auditList)
	a.mux.HandleFunc("GET "+Prefix+"/audit/stream", a.auditStream)
	a.mux.HandleFunc("GET "+Prefix+"/traffic", a.traffic)
	a.mux.HandleFunc("POST "+Prefix+"/reconnect/{name}", a.reconnect)
	a.mux.HandleFunc("POST "+Prefix+"/reload", a.reload)
	return a
}

// public lists the paths served without a token; matched exactly.
var public = map[string]bool{Prefix + "/health": true, Prefix + "/ready": true}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !public[r.URL.Path] {
		if a.o.Token == "" && a.o.Admin == nil {
			writeError(w, http.StatusForbidden, "the management API needs a token: set management.token or $"+TokenEnv)
			return
		}
		who, ok := a.authorized(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="argus-management"`)
			writeError(w, http.StatusUnauthorized, "missing or invalid bearer token")
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), callerKey{}, who))
	}
	if a.o.Redact != nil {
		w = redactingResponse{ResponseWriter: w, redact: a.o.Redact}
	}
	a.mux.ServeHTTP(w, r)
}

// redactingResponse redacts each body write; every handler writes a JSON
// body or an SSE event with one Write.
type redactingResponse struct {
	http.ResponseWriter
	redact func([]byte) []byte
}

func (w redactingResponse) Write(p []byte) (int, error) {
	if _, err := w.ResponseWriter.Write(w.redact(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush keeps /events/stream working through the wrapper.
func (w redactingResponse) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// callerKey holds, in an authorized request's context, who made it.
type callerKey struct{}

// authorized reports whether r carries the management token or an admin
// JWT, and who that is: for the token, a caller with
// audit.UserManagementToken as its user (the token names no one).
func (a *API) authorized(r *http.Request) (identity.Identity, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return identity.Identity{}, false
	}
	tok = strings.TrimSpace(tok)
	d := sha256.Sum256([]byte(tok))
	if a.o.Token != "" && subtle.ConstantTimeCompare(d[:], a.digest[:]) == 1 {
		return identity.Identity{UserID: audit.UserManagementToken}, true
	}
	if a.o.Admin == nil {
		return identity.Identity{}, false
	}
	return a.o.Admin(r.Context(), tok)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
