// Package config is the Argus configuration as the rest of the host sees
// it: a validated, defaulted Config and the types of its blocks, their
// defaults and constants. Package configload reads it from HCL, and
// package hclfunc provides the functions a file may call (env, file).
//
// Every value a configuration obtains through env() or file(), every auth and
// management token and every backend header value is recorded in
// Config.Secrets; the logging layer redacts them from all output.
package config

import (
	"net/netip"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Backend transport types.
const (
	TypeStdio          = "stdio"
	TypeStreamableHTTP = "streamable-http"
	TypeSSE            = "sse"
)

// Backend session modes: how client sessions map onto backend sessions.
const (
	// SessionShared: one backend session serves every client session.
	SessionShared = "shared"
	// SessionPerClient: each client session gets its own backend session
	// (for stdio, its own process), so backend-initiated requests and
	// notifications always reach the client they belong to.
	SessionPerClient = "per-client"
)

// What of a trace context (params._meta's traceparent, tracestate and
// baggage, SEP-414) a backend is sent (backend block, trace_propagation).
const (
	// PropagateAll: all three, Argus's CLIENT span's when telemetry is on,
	// the client's otherwise.
	PropagateAll = "all"
	// PropagateTrace: traceparent and tracestate; no baggage, which holds
	// what the application put there (OpenTelemetry's advice for third
	// parties).
	PropagateTrace = "trace"
	// PropagateNone: no trace context at all; any the client sent is
	// removed. For a backend outside the organisation, or one that reads
	// none and would only pay for decoding it.
	PropagateNone = "none"
)

// Conflict resolution strategies for capabilities that two backends expose
// under the same name.
const (
	StrategyFirstWins = "first-wins"
	StrategyPrefix    = "prefix"
	StrategyPriority  = "priority"
	StrategyError     = "error"
)

// Defaults applied when the configuration leaves a setting out.
const (
	DefaultListen          = "127.0.0.1:9000"
	DefaultLogLevel        = "info"
	DefaultLogFormat       = "text"
	DefaultPluginDir       = "./plugins"
	DefaultStrategy        = StrategyPrefix
	DefaultSeparator       = "_"
	DefaultMaxRequestBytes = 4 << 20
	DefaultSessionTimeout  = 30 * time.Minute
	DefaultConnectTimeout  = 30 * time.Second
	DefaultCallTimeout     = 60 * time.Second
	DefaultConnectRetries  = 3
	DefaultRetryBackoff    = 500 * time.Millisecond
	DefaultShutdownTimeout = 10 * time.Second
	DefaultDrainTimeout    = 0 // no drain: shut down at once

	// Client-facing limits (server block). 0 disables a count limit.
	DefaultMaxSessions        = 10000
	DefaultMaxSessionsPerIP   = 1000
	DefaultMaxSessionsPerUser = 1000
	DefaultMaxConnections     = 20000
	DefaultReadHeaderTimeout  = 10 * time.Second
	DefaultReadTimeout        = 30 * time.Second
	DefaultIdleTimeout        = 30 * time.Second

	// Per-client backend sessions (backend block, session_mode = "per-client").
	DefaultMaxClients        = 32
	DefaultClientIdleTimeout = 5 * time.Minute

	// DefaultBackendProtocol is the newest revision with sessions, which
	// relaying server-to-client messages outside a request needs.
	DefaultBackendProtocol = "2025-11-25"

	DefaultHealthInterval   = 30 * time.Second
	DefaultHealthTimeout    = 10 * time.Second
	DefaultFailureThreshold = 3
	DefaultDegradedLatency  = 5 * time.Second
	DefaultReconnectMax     = 60 * time.Second

	// DefaultAuditBuffer is management.audit_buffer's default;
	// MaxAuditBuffer its largest value (events are ~1 KiB each).
	DefaultAuditBuffer = 1000
	MaxAuditBuffer     = 100000
)

// Config is the validated, defaulted configuration of one Argus process.
// It is immutable once Load returns.
type Config struct {
	// Filename is the path the configuration was read from ("<embedded>" for
	// the built-in default).
	Filename string

	Server    Server
	Log       Log
	PluginDir string
	Auth      *Auth // nil: anonymous clients
	// Policies are the authorization rules in configuration order; none:
	// every call is allowed.
	Policies []Policy
	// Quotas are the per-user rate limits in configuration order.
	Quotas     []Quota
	Management Management
	Backends   []Backend // in configuration order
	Conflict   Conflict
	Health     Health
	Audit      Audit
	Telemetry  Telemetry

	// PluginDirAllowGroupWritable lets Argus run external plugins whose
	// file, or a directory above it, is writable by its group (never by
	// everyone). Default false.
	PluginDirAllowGroupWritable bool

	// Secrets holds every secret value resolved while loading, for redaction.
	Secrets []string
}

// Server configures the client-facing listener.
type Server struct {
	Listen string
	// MaxRequestBytes caps the body of one HTTP request to /mcp.
	MaxRequestBytes int64
	// SessionTimeout closes client sessions idle for this long; 0 never does.
	SessionTimeout time.Duration
	// ShutdownTimeout bounds graceful shutdown of the listener and backends.
	ShutdownTimeout time.Duration
	// DrainTimeout is how long a replica keeps serving after SIGTERM (or
	// SIGINT) before it shuts down: /manage/v1/ready answers 503 at once
	// so load balancers stop sending new work, while in-flight requests,
	// existing sessions and requests still arriving are served as usual.
	// A second signal ends the drain early. Default DefaultDrainTimeout
	// (0: no drain); shutdown_timeout starts when the drain ends.
	DrainTimeout time.Duration
	// TrustedProxies are the peers (CIDR prefixes) whose X-Forwarded-For
	// header is believed when determining a client's address.
	TrustedProxies []netip.Prefix

	// MaxSessions caps open client sessions in total, MaxSessionsPerIP per
	// client address and MaxSessionsPerUser per authenticated user
	// (defaults DefaultMaxSessions, DefaultMaxSessionsPerIP,
	// DefaultMaxSessionsPerUser); 0 removes a limit.
	MaxSessions        int
	MaxSessionsPerIP   int
	MaxSessionsPerUser int
	// MaxConnections caps concurrently open client connections (default
	// DefaultMaxConnections; 0: unlimited). Further connections wait in the
	// kernel's accept queue.
	MaxConnections int
	// ReadHeaderTimeout bounds reading a request's headers, ReadTimeout
	// reading the whole request (headers and body); IdleTimeout closes
	// keep-alive connections with no request. Responses, streaming (SSE)
	// ones included, are not bounded by any of them.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	IdleTimeout       time.Duration
}

// Log configures the host log. Audit events never pass through it.
type Log struct {
	Level  string
	Format string
}

// Health configures backend health checks.
type Health struct {
	// Interval between checks of one backend (each wait is jittered by up
	// to ±10%).
	Interval time.Duration
	// Timeout bounds one check.
	Timeout time.Duration
	// FailureThreshold consecutive failed checks make a backend unhealthy
	// (Failed); fewer make it Degraded.
	FailureThreshold int
	// DegradedLatency: a check slower than this makes a backend Degraded.
	DegradedLatency time.Duration
	// Probes are the probe plugin instances, in configuration order.
	Probes []PluginInstance
}

// Auth authenticates MCP clients: static bearer tokens mapped to user ids,
// and JWT access tokens from OAuth 2.1 authorization servers (Argus is
// then an OAuth resource server, RFC 9728). A token is tried against the
// static tokens first, then, if it is a JWT, against the issuer it names.
type Auth struct {
	Tokens []Token
	JWT    []JWT
	// Resource is this gateway's resource identifier (RFC 8707, RFC 9728):
	// the URL clients reach /mcp at, e.g. "https://argus.example.com/mcp".
	// "" derives it from each request's Host. It is the default audience
	// of every jwt block.
	Resource string
	// Scopes are the OAuth scopes every JWT must carry (all of them);
	// advertised in the protected resource metadata and the 401/403
	// challenge. Empty: no scope is required.
	Scopes []string
	// AdminGroups: a JWT whose groups include one of these may use the
	// management API like the management token.
	AdminGroups []string
}

// Defaults of a jwt block.
const (
	DefaultUserClaim   = "sub"
	DefaultGroupsClaim = "groups"
	DefaultJWTLeeway   = 30 * time.Second
	// DefaultJWKSMinRefresh: an unknown key id refetches the JWKS at most
	// this often (a token with a forged kid cannot hammer the issuer).
	DefaultJWKSMinRefresh = 10 * time.Second
	// DefaultJWKSMaxAge: cached keys are refetched after this long anyway.
	DefaultJWKSMaxAge = 15 * time.Minute
)

// DefaultJWTAlgorithms are the signature algorithms a jwt block accepts
// unless it lists its own: asymmetric ones only. HMAC (HS*) and "none"
// are never accepted.
var DefaultJWTAlgorithms = []string{"RS256", "PS256", "ES256", "EdDSA"}

// JWTAlgorithms are the algorithms a jwt block may list.
var JWTAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// JWT is one trusted issuer of JWT access tokens (a jwt block).
type JWT struct {
	Name string
	// Issuer must equal the token's iss claim exactly.
	Issuer string
	// Audiences: the token's aud must contain one of them (default: the
	// auth block's resource).
	Audiences []string
	// JWKSURL is where the issuer's keys are; "" discovers it from
	// Issuer + "/.well-known/openid-configuration" (then
	// oauth-authorization-server) on first use.
	JWKSURL string
	// UserClaim names the claim that becomes the user id (default "sub"),
	// GroupsClaim the claim holding the user's groups (default "groups";
	// a list of strings or one space-separated string).
	UserClaim   string
	GroupsClaim string
	// Leeway is the clock skew allowed on exp, nbf and iat (default 30s).
	Leeway time.Duration
	// Algorithms allowed in the token's header (default
	// DefaultJWTAlgorithms).
	Algorithms []string
	// JWKSMinRefresh and JWKSMaxAge: see DefaultJWKSMinRefresh and
	// DefaultJWKSMaxAge.
	JWKSMinRefresh time.Duration
	JWKSMaxAge     time.Duration

	DeclRange hcl.Range
}

// Policy is one authorization rule (a policy block); see package
// host/policy for the semantics.
type Policy struct {
	Name string
	// Effect is "allow" or "deny".
	Effect string
	// Tools, Resources and Prompts are glob patterns (path.Match) of
	// exposed names (resource URIs); a policy naming none of the three
	// applies to every capability. Backends restricts it to capabilities
	// of those backends.
	Tools, Resources, Prompts []string
	Backends                  []string
	// Users and Groups restrict the policy to those callers; both empty:
	// every caller.
	Users, Groups []string
	// Condition is a CEL expression that must hold too ("" always holds).
	Condition string
	// ConditionRange locates Condition, for diagnostics.
	ConditionRange hcl.Range
	DeclRange      hcl.Range
}

// Quota is a per-user rate limit (a quota block): each user it applies
// to gets a token bucket of Burst calls refilled at Rate per Per.
type Quota struct {
	Name string
	// Users and Groups select whom it applies to; both empty: everyone
	// not covered by another quota (the default). A user's own quota wins
	// over a group's, a group's over the default; among several, the first
	// in the file.
	Users, Groups []string
	Rate          int
	Per           time.Duration
	Burst         int
	DeclRange     hcl.Range
}

// Token is one accepted bearer token and the user id it authenticates.
type Token struct {
	UserID string
	Value  string
}

// Management configures the management API.
type Management struct {
	Token string
	// AuditBuffer is how many recent audit events the host keeps in
	// memory for GET /manage/v1/audit and the console's audit explorer
	// (default DefaultAuditBuffer; 0 keeps none).
	AuditBuffer int
}

// Backend is one upstream MCP server.
type Backend struct {
	Name    string
	Type    string
	Command string
	Args    []string
	Env     map[string]string
	Dir     string
	URL     string
	Headers map[string]string

	Tools     Filter
	Resources Filter
	Prompts   Filter

	// SessionMode is SessionShared (default) or SessionPerClient.
	SessionMode string
	// ProtocolVersion is the MCP revision requested from the backend
	// (default DefaultBackendProtocol); the backend may negotiate down.
	ProtocolVersion string
	// TracePropagation is PropagateAll (default), PropagateTrace or
	// PropagateNone.
	TracePropagation string

	// ConnectTimeout bounds one connection attempt including initialize.
	ConnectTimeout time.Duration
	// CallTimeout bounds one forwarded request.
	CallTimeout time.Duration
	// ConnectRetries is how many times a failed connection is retried at
	// start-up, with exponential backoff starting at RetryBackoff.
	ConnectRetries int
	RetryBackoff   time.Duration

	// MaxClients caps the per-client backend sessions (for stdio, processes)
	// open at once (default DefaultMaxClients); only for SessionPerClient.
	MaxClients int
	// IdleTimeout closes a per-client backend session with no request in
	// flight for this long (default DefaultClientIdleTimeout; 0: never); the
	// client's next request opens a new one.
	IdleTimeout time.Duration

	// DeclRange is where the backend block is declared, for diagnostics that
	// are only found once the backend is running (e.g. name conflicts).
	DeclRange hcl.Range
}

// Filter selects capabilities by name (tools, prompts) or URI (resources)
// with glob patterns (path.Match syntax). An empty Allow admits everything;
// Deny wins over Allow.
type Filter struct {
	Allow []string
	Deny  []string
}

// Conflict selects how name collisions between backends are resolved.
type Conflict struct {
	Strategy  string
	Separator string
	Order     []string
}
