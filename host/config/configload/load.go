// Package configload reads the Argus HCL configuration into a
// config.Config and validates it.
//
// Loading follows Terraform's config loader: hclparse reads the file, gohcl
// decodes one struct per block type, and every problem is accumulated as an
// hcl.Diagnostic that points at the offending source range, so a user sees
// all mistakes at once with file, line, column and snippet. Every secret
// the loader comes across (see Parser) is recorded in Config.Secrets.
package configload

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/config/configload/attr"
	"github.com/argusmcp/argus/host/config/configload/secretscan"
	"github.com/argusmcp/argus/host/config/hclfunc"
	"github.com/argusmcp/argus/host/logging"
)

// The file's schema, decoded with gohcl. Each block keeps its hcl.Body so
// validation can point at the exact attribute that is wrong.
type fileSchema struct {
	Server     *serverBlock     `hcl:"server,block"`
	Log        *logBlock        `hcl:"log,block"`
	PluginDir  *string          `hcl:"plugin_dir,optional"`
	Auth       *authBlock       `hcl:"auth,block"`
	Management *managementBlock `hcl:"management,block"`
	Backends   []*backendBlock  `hcl:"backend,block"`
	Conflict   *conflictBlock   `hcl:"conflict_resolution,block"`
	Health     *healthBlock     `hcl:"health,block"`
	Audit      *auditBlock      `hcl:"audit,block"`
	Telemetry  *telemetryBlock  `hcl:"telemetry,block"`
	Policies   []*policyBlock   `hcl:"policy,block"`
	Quotas     []*quotaBlock    `hcl:"quota,block"`
	Body       hcl.Body         `hcl:",body"`

	// PluginDirAllowGroupWritable: see Config.
	PluginDirAllowGroupWritable *bool `hcl:"plugin_dir_allow_group_writable,optional"`
}

type healthBlock struct {
	Interval         *string        `hcl:"interval,optional"`
	Timeout          *string        `hcl:"timeout,optional"`
	FailureThreshold *int           `hcl:"failure_threshold,optional"`
	DegradedLatency  *string        `hcl:"degraded_latency,optional"`
	Probes           []*pluginBlock `hcl:"probe,block"`
	Body             hcl.Body       `hcl:",body"`
}

type serverBlock struct {
	Listen          *string  `hcl:"listen,optional"`
	MaxRequestBytes *int64   `hcl:"max_request_bytes,optional"`
	SessionTimeout  *string  `hcl:"session_timeout,optional"`
	ShutdownTimeout *string  `hcl:"shutdown_timeout,optional"`
	DrainTimeout    *string  `hcl:"drain_timeout,optional"`
	TrustedProxies  []string `hcl:"trusted_proxies,optional"`

	MaxSessions        *int     `hcl:"max_sessions,optional"`
	MaxSessionsPerIP   *int     `hcl:"max_sessions_per_ip,optional"`
	MaxSessionsPerUser *int     `hcl:"max_sessions_per_user,optional"`
	MaxConnections     *int     `hcl:"max_connections,optional"`
	ReadHeaderTimeout  *string  `hcl:"read_header_timeout,optional"`
	ReadTimeout        *string  `hcl:"read_timeout,optional"`
	IdleTimeout        *string  `hcl:"idle_timeout,optional"`
	Body               hcl.Body `hcl:",body"`
}

type logBlock struct {
	Level  *string  `hcl:"level,optional"`
	Format *string  `hcl:"format,optional"`
	Body   hcl.Body `hcl:",body"`
}

type authBlock struct {
	Tokens      []*tokenBlock `hcl:"token,block"`
	JWT         []*jwtBlock   `hcl:"jwt,block"`
	Resource    *string       `hcl:"resource,optional"`
	Scopes      []string      `hcl:"scopes,optional"`
	AdminGroups []string      `hcl:"admin_groups,optional"`
	Body        hcl.Body      `hcl:",body"`
}

type jwtBlock struct {
	Name           string    `hcl:"name,label"`
	Issuer         string    `hcl:"issuer"`
	Audiences      []string  `hcl:"audiences,optional"`
	JWKSURL        *string   `hcl:"jwks_url,optional"`
	UserClaim      *string   `hcl:"user_claim,optional"`
	GroupsClaim    *string   `hcl:"groups_claim,optional"`
	Leeway         *string   `hcl:"leeway,optional"`
	Algorithms     []string  `hcl:"algorithms,optional"`
	JWKSMinRefresh *string   `hcl:"jwks_min_refresh,optional"`
	JWKSMaxAge     *string   `hcl:"jwks_max_age,optional"`
	Body           hcl.Body  `hcl:",body"`
	DeclRange      hcl.Range `hcl:",def_range"`
}

type policyBlock struct {
	Name      string    `hcl:"name,label"`
	Effect    string    `hcl:"effect"`
	Tools     []string  `hcl:"tools,optional"`
	Resources []string  `hcl:"resources,optional"`
	Prompts   []string  `hcl:"prompts,optional"`
	Backends  []string  `hcl:"backends,optional"`
	Users     []string  `hcl:"users,optional"`
	Groups    []string  `hcl:"groups,optional"`
	Condition *string   `hcl:"condition,optional"`
	Body      hcl.Body  `hcl:",body"`
	DeclRange hcl.Range `hcl:",def_range"`
}

type quotaBlock struct {
	Name      string    `hcl:"name,label"`
	Users     []string  `hcl:"users,optional"`
	Groups    []string  `hcl:"groups,optional"`
	Rate      int       `hcl:"rate"`
	Per       *string   `hcl:"per,optional"`
	Burst     *int      `hcl:"burst,optional"`
	Body      hcl.Body  `hcl:",body"`
	DeclRange hcl.Range `hcl:",def_range"`
}

type tokenBlock struct {
	UserID    string    `hcl:"user_id,label"`
	Value     string    `hcl:"value"`
	Body      hcl.Body  `hcl:",body"`
	DeclRange hcl.Range `hcl:",def_range"`
}

type managementBlock struct {
	Token       *string  `hcl:"token,optional"`
	AuditBuffer *int     `hcl:"audit_buffer,optional"`
	Body        hcl.Body `hcl:",body"`
}

type backendBlock struct {
	Name           string            `hcl:"name,label"`
	Type           string            `hcl:"type"`
	Command        *string           `hcl:"command,optional"`
	Args           []string          `hcl:"args,optional"`
	Env            map[string]string `hcl:"env,optional"`
	Dir            *string           `hcl:"working_dir,optional"`
	URL            *string           `hcl:"url,optional"`
	Headers        map[string]string `hcl:"headers,optional"`
	Tools          *filterBlock      `hcl:"tools,block"`
	Resources      *filterBlock      `hcl:"resources,block"`
	Prompts        *filterBlock      `hcl:"prompts,block"`
	ConnectTimeout *string           `hcl:"connect_timeout,optional"`
	CallTimeout    *string           `hcl:"call_timeout,optional"`
	ConnectRetries *int              `hcl:"connect_retries,optional"`
	RetryBackoff   *string           `hcl:"retry_backoff,optional"`
	SessionMode    *string           `hcl:"session_mode,optional"`
	Protocol       *string           `hcl:"protocol_version,optional"`
	Propagation    *string           `hcl:"trace_propagation,optional"`
	MaxClients     *int              `hcl:"max_clients,optional"`
	IdleTimeout    *string           `hcl:"idle_timeout,optional"`
	Body           hcl.Body          `hcl:",body"`
	DeclRange      hcl.Range         `hcl:",def_range"`
}

type filterBlock struct {
	Allow []string `hcl:"allow,optional"`
	Deny  []string `hcl:"deny,optional"`
	Body  hcl.Body `hcl:",body"`
}

type conflictBlock struct {
	Strategy  *string  `hcl:"strategy,optional"`
	Separator *string  `hcl:"separator,optional"`
	Order     []string `hcl:"order,optional"`
	Body      hcl.Body `hcl:",body"`
}

var backendNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)

// Parser reads configuration files and keeps their sources so diagnostics
// can be rendered with snippets.
//
// Every secret a Parser comes across is added to its Secrets set, also
// when loading fails: env() and file() values anywhere in the file, token
// and header values (literals included), $ARGUS_MGMT_TOKEN and the OTLP
// header variables. WriteDiagnostics redacts with that set, in the
// diagnostic text and in the source snippets alike.
type Parser struct {
	p       *hclparse.Parser
	secrets *logging.Secrets
}

// NewParser returns a Parser with an empty file cache and a secret set of
// its own.
func NewParser() *Parser { return NewParserWith(nil) }

// NewParserWith returns a Parser that adds the secrets it finds to secrets
// and redacts its diagnostics with everything in it (the secrets of a
// running configuration, say); nil means a new set.
func NewParserWith(secrets *logging.Secrets) *Parser {
	if secrets == nil {
		secrets = logging.NewSecrets()
	}
	return &Parser{p: hclparse.NewParser(), secrets: secrets}
}

// Secrets is the set of every secret the parser has found so far.
func (p *Parser) Secrets() *logging.Secrets { return p.secrets }

// Files returns the sources read so far, keyed by filename, for an
// hcl.DiagnosticWriter.
func (p *Parser) Files() map[string]*hcl.File { return p.p.Files() }

// LoadFile reads and validates the configuration at filename. The file
// must be a regular file of at most hclfunc.MaxFileBytes.
func (p *Parser) LoadFile(filename string) (*config.Config, hcl.Diagnostics) {
	src, err := hclfunc.ReadFile(filename)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read configuration file",
			Detail:   fmt.Sprintf("Reading %s: %v.", filename, err),
		}}
	}
	return p.Load(src, filename)
}

// Load parses and validates configuration source. filename names it in
// diagnostics; relative paths given to file() resolve against its directory.
// The returned Config is nil whenever the diagnostics contain an error.
func (p *Parser) Load(src []byte, filename string) (*config.Config, hcl.Diagnostics) {
	if len(src) > hclfunc.MaxFileBytes {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Configuration too large",
			Detail: fmt.Sprintf("%s has %d bytes; the limit is %d.", filename, len(src), hclfunc.MaxFileBytes)}}
	}
	p.secrets.Add(secretscan.Environment()...)
	dir := filepath.Dir(filename)
	f, diags := p.p.ParseHCL(src, filename)
	if f != nil {
		secretscan.Body(f.Body, hclfunc.EvalContext(dir, hclfunc.NewResolved(p.secrets.Add)), p.secrets.Add)
	}
	secrets := hclfunc.NewResolved(nil)
	ctx := hclfunc.EvalContext(dir, secrets)
	if diags.HasErrors() {
		secretscan.Source(src, filename, p.secrets.Add)
		return nil, diags
	}

	var raw fileSchema
	diags = append(diags, withoutFollowUps(gohcl.DecodeBody(f.Body, ctx, &raw))...)
	if diags.HasErrors() {
		return nil, diags
	}
	cfg := &config.Config{Filename: filename}
	diags = append(diags, raw.build(cfg, ctx)...)
	cfg.Secrets = append(cfg.Secrets, secrets.Values()...)
	cfg.Secrets = append(cfg.Secrets, secretscan.Environment()...)
	for _, t := range tokensOf(cfg) {
		cfg.Secrets = append(cfg.Secrets, t)
	}
	for _, b := range cfg.Backends {
		cfg.Secrets = append(cfg.Secrets, urlCredentials(b.URL)...)
		for _, v := range b.Headers {
			cfg.Secrets = append(cfg.Secrets, v)
			// "Bearer <token>": the credential alone is a secret too.
			if _, cred, ok := strings.Cut(strings.TrimSpace(v), " "); ok {
				cfg.Secrets = append(cfg.Secrets, strings.TrimSpace(cred))
			}
		}
	}
	p.secrets.Add(cfg.Secrets...)
	if diags.HasErrors() {
		return nil, diags
	}
	slices.Sort(cfg.Secrets)
	cfg.Secrets = slices.Compact(cfg.Secrets)
	return cfg, diags
}

func tokensOf(cfg *config.Config) []string {
	var out []string
	if cfg.Auth != nil {
		for _, t := range cfg.Auth.Tokens {
			out = append(out, t.Value)
		}
	}
	if cfg.Management.Token != "" {
		out = append(out, cfg.Management.Token)
	}
	return out
}

func (raw *fileSchema) build(cfg *config.Config, ctx *hcl.EvalContext) hcl.Diagnostics {
	var diags hcl.Diagnostics

	cfg.Server = config.Server{
		Listen:          config.DefaultListen,
		MaxRequestBytes: config.DefaultMaxRequestBytes,
		SessionTimeout:  config.DefaultSessionTimeout,
		ShutdownTimeout: config.DefaultShutdownTimeout,
		DrainTimeout:    config.DefaultDrainTimeout,

		MaxSessions:        config.DefaultMaxSessions,
		MaxSessionsPerIP:   config.DefaultMaxSessionsPerIP,
		MaxSessionsPerUser: config.DefaultMaxSessionsPerUser,
		MaxConnections:     config.DefaultMaxConnections,
		ReadHeaderTimeout:  config.DefaultReadHeaderTimeout,
		ReadTimeout:        config.DefaultReadTimeout,
		IdleTimeout:        config.DefaultIdleTimeout,
	}
	if s := raw.Server; s != nil {
		diags = append(diags, attr.Count(s.Body, "max_sessions", s.MaxSessions, 0, &cfg.Server.MaxSessions)...)
		diags = append(diags, attr.Count(s.Body, "max_sessions_per_ip", s.MaxSessionsPerIP, 0, &cfg.Server.MaxSessionsPerIP)...)
		diags = append(diags, attr.Count(s.Body, "max_sessions_per_user", s.MaxSessionsPerUser, 0, &cfg.Server.MaxSessionsPerUser)...)
		diags = append(diags, attr.Count(s.Body, "max_connections", s.MaxConnections, 0, &cfg.Server.MaxConnections)...)
		diags = append(diags, attr.Duration(s.Body, "read_header_timeout", s.ReadHeaderTimeout, false, &cfg.Server.ReadHeaderTimeout)...)
		diags = append(diags, attr.Duration(s.Body, "read_timeout", s.ReadTimeout, false, &cfg.Server.ReadTimeout)...)
		diags = append(diags, attr.Duration(s.Body, "idle_timeout", s.IdleTimeout, false, &cfg.Server.IdleTimeout)...)
		if s.Listen != nil {
			cfg.Server.Listen = *s.Listen
			if why := checkListen(*s.Listen); why != "" {
				diags = append(diags, attr.Error(s.Body, "listen", "Invalid listen address",
					fmt.Sprintf("%q %s.", *s.Listen, why)))
			}
		}
		if s.MaxRequestBytes != nil {
			cfg.Server.MaxRequestBytes = *s.MaxRequestBytes
			if *s.MaxRequestBytes < 1024 {
				diags = append(diags, attr.Error(s.Body, "max_request_bytes", "Invalid request size limit",
					"max_request_bytes must be at least 1024."))
			}
		}
		diags = append(diags, attr.Duration(s.Body, "session_timeout", s.SessionTimeout, true, &cfg.Server.SessionTimeout)...)
		diags = append(diags, attr.Duration(s.Body, "shutdown_timeout", s.ShutdownTimeout, false, &cfg.Server.ShutdownTimeout)...)
		diags = append(diags, attr.Duration(s.Body, "drain_timeout", s.DrainTimeout, true, &cfg.Server.DrainTimeout)...)
		for _, p := range s.TrustedProxies {
			prefix, err := netip.ParsePrefix(p)
			if err != nil {
				addr, aerr := netip.ParseAddr(p)
				if aerr != nil {
					diags = append(diags, attr.Error(s.Body, "trusted_proxies", "Invalid trusted proxy",
						fmt.Sprintf("%q is neither an IP address nor a CIDR prefix (for example \"10.0.0.0/8\").", p)))
					continue
				}
				prefix = netip.PrefixFrom(addr, addr.BitLen())
			}
			cfg.Server.TrustedProxies = append(cfg.Server.TrustedProxies, prefix.Masked())
		}
	}

	cfg.Log = config.Log{Level: config.DefaultLogLevel, Format: config.DefaultLogFormat}
	if l := raw.Log; l != nil {
		if l.Level != nil {
			cfg.Log.Level = *l.Level
			diags = append(diags, attr.OneOf(l.Body, "level", *l.Level, "log level",
				[]string{"trace", "debug", "info", "warn", "error", "off"})...)
		}
		if l.Format != nil {
			cfg.Log.Format = *l.Format
			diags = append(diags, attr.OneOf(l.Body, "format", *l.Format, "log format", []string{"text", "json"})...)
		}
	}

	cfg.PluginDir = config.DefaultPluginDir
	if raw.PluginDir != nil {
		cfg.PluginDir = *raw.PluginDir
	}
	if raw.PluginDirAllowGroupWritable != nil {
		cfg.PluginDirAllowGroupWritable = *raw.PluginDirAllowGroupWritable
	}

	if a := raw.Auth; a != nil {
		cfg.Auth = &config.Auth{}
		users := map[string]bool{}
		values := map[string]string{}
		for _, t := range a.Tokens {
			switch {
			case users[t.UserID]:
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate auth token",
					Detail: fmt.Sprintf("User %q has more than one token block.", t.UserID), Subject: t.DeclRange.Ptr()})
			case len(t.Value) < 16:
				diags = append(diags, attr.Error(t.Body, "value", "Auth token too short",
					fmt.Sprintf("The token of user %q must be at least 16 characters long.", t.UserID)))
			case values[t.Value] != "":
				diags = append(diags, attr.Error(t.Body, "value", "Auth token reused",
					fmt.Sprintf("Users %q and %q have the same token; a token must identify one user.", values[t.Value], t.UserID)))
			}
			users[t.UserID] = true
			values[t.Value] = t.UserID
			cfg.Auth.Tokens = append(cfg.Auth.Tokens, config.Token{UserID: t.UserID, Value: t.Value})
		}
		diags = append(diags, a.build(cfg.Auth)...)
		if len(a.Tokens) == 0 && len(a.JWT) == 0 {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Empty auth block",
				Detail:  "An auth block needs at least one token or jwt block; remove the block to accept anonymous clients.",
				Subject: raw.Body.MissingItemRange().Ptr()})
		}
	}

	cfg.Management.AuditBuffer = config.DefaultAuditBuffer
	if m := raw.Management; m != nil {
		if m.Token != nil {
			cfg.Management.Token = *m.Token
		}
		if m.AuditBuffer != nil && *m.AuditBuffer > config.MaxAuditBuffer {
			diags = append(diags, attr.Error(m.Body, "audit_buffer", "Invalid limit",
				fmt.Sprintf("audit_buffer must be at most %d.", config.MaxAuditBuffer)))
		} else {
			diags = append(diags, attr.Count(m.Body, "audit_buffer", m.AuditBuffer, 0, &cfg.Management.AuditBuffer)...)
		}
	}
	diags = append(diags, raw.checkManagementToken(cfg.Management.Token)...)

	seen := map[string]*backendBlock{}
	for _, b := range raw.Backends {
		if prev := seen[b.Name]; prev != nil {
			diags = append(diags, attr.Duplicate("Duplicate backend", "backend", b.Name, "", prev.DeclRange, b.DeclRange))
			continue
		}
		seen[b.Name] = b
		be, d := b.build()
		diags = append(diags, d...)
		cfg.Backends = append(cfg.Backends, be)
	}

	cfg.Health = config.Health{Interval: config.DefaultHealthInterval, Timeout: config.DefaultHealthTimeout,
		FailureThreshold: config.DefaultFailureThreshold, DegradedLatency: config.DefaultDegradedLatency}
	if h := raw.Health; h != nil {
		diags = append(diags, attr.Duration(h.Body, "interval", h.Interval, false, &cfg.Health.Interval)...)
		diags = append(diags, attr.Duration(h.Body, "timeout", h.Timeout, false, &cfg.Health.Timeout)...)
		diags = append(diags, attr.Duration(h.Body, "degraded_latency", h.DegradedLatency, false, &cfg.Health.DegradedLatency)...)
		if h.FailureThreshold != nil {
			cfg.Health.FailureThreshold = *h.FailureThreshold
			if *h.FailureThreshold < 1 {
				diags = append(diags, attr.Error(h.Body, "failure_threshold", "Invalid failure threshold",
					"failure_threshold must be at least 1."))
			}
		}
	}

	diags = append(diags, raw.buildPlugins(cfg, ctx)...)
	diags = append(diags, raw.buildPolicies(cfg, seen)...)
	diags = append(diags, raw.buildQuotas(cfg)...)

	cfg.Conflict = config.Conflict{Strategy: config.DefaultStrategy, Separator: config.DefaultSeparator}
	if c := raw.Conflict; c != nil {
		if c.Strategy != nil {
			cfg.Conflict.Strategy = *c.Strategy
			diags = append(diags, attr.OneOf(c.Body, "strategy", *c.Strategy, "conflict resolution strategy",
				[]string{config.StrategyFirstWins, config.StrategyPrefix, config.StrategyPriority, config.StrategyError})...)
		}
		if c.Separator != nil {
			cfg.Conflict.Separator = *c.Separator
			if *c.Separator == "" && cfg.Conflict.Strategy == config.StrategyPrefix {
				diags = append(diags, attr.Error(c.Body, "separator", "Empty separator",
					"The prefix strategy needs a non-empty separator between backend and capability names."))
			}
		}
		cfg.Conflict.Order = c.Order
		for _, name := range c.Order {
			if seen[name] == nil {
				diags = append(diags, attr.Error(c.Body, "order", "Unknown backend in order",
					fmt.Sprintf("The order list names %q, but no backend block has that name.", name)))
			}
		}
		if len(c.Order) > 0 && cfg.Conflict.Strategy != config.StrategyPriority {
			diags = append(diags, attr.Warning(c.Body, "order", "Order is ignored",
				fmt.Sprintf("order only applies to the %q strategy.", config.StrategyPriority)))
		}
	}
	return diags
}

func (b *backendBlock) build() (config.Backend, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	be := config.Backend{
		Name: b.Name, Type: b.Type, Args: b.Args, Env: b.Env, Headers: b.Headers,
		ConnectTimeout: config.DefaultConnectTimeout, CallTimeout: config.DefaultCallTimeout,
		ConnectRetries: config.DefaultConnectRetries, RetryBackoff: config.DefaultRetryBackoff,
		SessionMode: config.SessionShared, ProtocolVersion: config.DefaultBackendProtocol, DeclRange: b.DeclRange,
		MaxClients: config.DefaultMaxClients, IdleTimeout: config.DefaultClientIdleTimeout,
		TracePropagation: config.PropagateAll,
	}
	if b.Protocol != nil {
		be.ProtocolVersion = *b.Protocol
		diags = append(diags, attr.OneOf(b.Body, "protocol_version", *b.Protocol, "MCP protocol revision",
			[]string{"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"})...)
	}
	if b.SessionMode != nil {
		be.SessionMode = *b.SessionMode
		diags = append(diags, attr.OneOf(b.Body, "session_mode", *b.SessionMode, "session mode",
			[]string{config.SessionShared, config.SessionPerClient})...)
	}
	if b.Propagation != nil {
		be.TracePropagation = *b.Propagation
		diags = append(diags, attr.OneOf(b.Body, "trace_propagation", *b.Propagation, "trace propagation",
			[]string{config.PropagateAll, config.PropagateTrace, config.PropagateNone})...)
	}
	if !backendNameRE.MatchString(b.Name) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid backend name",
			Detail:  fmt.Sprintf("Backend name %q must start with a letter and contain only letters, digits, '_' and '-'.", b.Name),
			Subject: b.DeclRange.Ptr()})
	}
	if b.Command != nil {
		be.Command = *b.Command
	}
	if b.URL != nil {
		be.URL = *b.URL
	}
	if b.Dir != nil {
		be.Dir = *b.Dir
	}
	switch b.Type {
	case config.TypeStdio:
		if b.Command == nil || strings.TrimSpace(*b.Command) == "" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing command",
				Detail:  fmt.Sprintf("Backend %q has type %q and needs a command to run.", b.Name, b.Type),
				Subject: b.Body.MissingItemRange().Ptr()})
		}
		for _, name := range []string{"url", "headers"} {
			if attr.Has(b.Body, name) {
				diags = append(diags, attr.Error(b.Body, name, "Attribute not valid for stdio",
					fmt.Sprintf("Backend %q runs a command over stdio; %q only applies to HTTP backends.", b.Name, name)))
			}
		}
	case config.TypeStreamableHTTP, config.TypeSSE:
		if b.URL == nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing url",
				Detail:  fmt.Sprintf("Backend %q has type %q and needs a url.", b.Name, b.Type),
				Subject: b.Body.MissingItemRange().Ptr()})
		} else if u, err := url.Parse(*b.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			diags = append(diags, attr.Error(b.Body, "url", "Invalid backend URL",
				fmt.Sprintf("%q is not an absolute http:// or https:// URL.", *b.URL)))
		}
		for _, name := range []string{"command", "args", "env", "working_dir"} {
			if attr.Has(b.Body, name) {
				diags = append(diags, attr.Error(b.Body, name, "Attribute not valid for HTTP backends",
					fmt.Sprintf("Backend %q connects to a URL; %q only applies to stdio backends.", b.Name, name)))
			}
		}
	default:
		diags = append(diags, attr.OneOf(b.Body, "type", b.Type, "backend type",
			[]string{config.TypeStdio, config.TypeStreamableHTTP, config.TypeSSE})...)
	}
	for k := range b.Headers {
		if k == "" || strings.ContainsAny(k, " \t\r\n:") {
			diags = append(diags, attr.Error(b.Body, "headers", "Invalid header name",
				fmt.Sprintf("%q is not a valid HTTP header name.", k)))
		}
	}
	diags = append(diags, attr.Duration(b.Body, "connect_timeout", b.ConnectTimeout, false, &be.ConnectTimeout)...)
	diags = append(diags, attr.Duration(b.Body, "call_timeout", b.CallTimeout, false, &be.CallTimeout)...)
	diags = append(diags, attr.Duration(b.Body, "retry_backoff", b.RetryBackoff, false, &be.RetryBackoff)...)
	diags = append(diags, attr.Count(b.Body, "max_clients", b.MaxClients, 1, &be.MaxClients)...)
	diags = append(diags, attr.Duration(b.Body, "idle_timeout", b.IdleTimeout, true, &be.IdleTimeout)...)
	if be.SessionMode != config.SessionPerClient {
		for _, name := range []string{"max_clients", "idle_timeout"} {
			if attr.Has(b.Body, name) {
				diags = append(diags, attr.Warning(b.Body, name, "Attribute is ignored",
					fmt.Sprintf("%q only applies to session_mode = %q.", name, config.SessionPerClient)))
			}
		}
	}
	if b.ConnectRetries != nil {
		be.ConnectRetries = *b.ConnectRetries
		if *b.ConnectRetries < 0 {
			diags = append(diags, attr.Error(b.Body, "connect_retries", "Invalid retry count",
				"connect_retries must be zero or more."))
		}
	}
	for _, f := range []struct {
		blk *filterBlock
		dst *config.Filter
	}{{b.Tools, &be.Tools}, {b.Resources, &be.Resources}, {b.Prompts, &be.Prompts}} {
		if f.blk == nil {
			continue
		}
		*f.dst = config.Filter{Allow: f.blk.Allow, Deny: f.blk.Deny}
		for _, name := range []string{"allow", "deny"} {
			list := f.blk.Allow
			if name == "deny" {
				list = f.blk.Deny
			}
			for _, pat := range list {
				if _, err := path.Match(pat, ""); err != nil {
					diags = append(diags, attr.Error(f.blk.Body, name, "Invalid glob pattern",
						fmt.Sprintf("%q: %v.", pat, err)))
				}
			}
		}
	}
	return be, diags
}

var hostnameRE = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$`)

// checkListen explains why addr cannot be listened on, as far as that can
// be told without the network: "" when it looks right.
func checkListen(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return `is not a host:port address (for example "127.0.0.1:9000")`
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Sprintf("has port %q, which is neither a number from 0 to 65535 nor a service name", port)
	}
	if host == "" {
		return ""
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return ""
	}
	if strings.Trim(host, "0123456789.") == "" || strings.Contains(host, ":") || !hostnameRE.MatchString(host) {
		return fmt.Sprintf("has host %q, which is neither an IP address nor a host name", host)
	}
	return ""
}

// checkManagementToken refuses a weak management token (see WeakToken)
// where it is set: $ARGUS_MGMT_TOKEN, which wins, or management.token.
func (raw *fileSchema) checkManagementToken(configured string) hcl.Diagnostics {
	token, source := configured, "management.token"
	env, fromEnv := os.LookupEnv(config.ManagementTokenEnv)
	if fromEnv {
		token, source = env, "$"+config.ManagementTokenEnv
	}
	if strings.TrimSpace(token) == "" {
		return nil
	}
	why := config.WeakToken(token)
	if why == "" {
		return nil
	}
	detail := fmt.Sprintf("The management token from %s %s.", source, why)
	if fromEnv || raw.Management == nil {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Weak management token", Detail: detail}}
	}
	return hcl.Diagnostics{attr.Error(raw.Management.Body, "token", "Weak management token", detail)}
}

// WriteDiagnostics renders diags with file, line, column and a source
// snippet, the way Terraform does. width 0 disables wrapping. The whole
// text is redacted with Secrets (see logging.Secrets.Redact) and written
// with one Write.
func (p *Parser) WriteDiagnostics(w io.Writer, diags hcl.Diagnostics, width uint, color bool) error {
	var buf bytes.Buffer
	if err := hcl.NewDiagnosticTextWriter(&buf, p.Files(), width, color).WriteDiagnostics(diags); err != nil {
		return err
	}
	_, err := w.Write(p.secrets.Redact(buf.Bytes()))
	return err
}

// Reporter returns a function that writes diagnostics to w as the argus
// command shows them (WriteDiagnostics wrapped at 100 columns, in colour
// when w is a terminal); it writes nothing for none.
func (p *Parser) Reporter(w io.Writer) func(hcl.Diagnostics) {
	return func(diags hcl.Diagnostics) {
		if len(diags) > 0 {
			p.WriteDiagnostics(w, diags, 100, logging.IsTerminal(w))
		}
	}
}

// withoutFollowUps drops the "value must be known" error gohcl adds after a
// function call failed: the function's own diagnostic already explains it.
func withoutFollowUps(diags hcl.Diagnostics) hcl.Diagnostics {
	var failed []hcl.Range
	out := diags[:0:0]
	for _, d := range diags {
		if d.Subject != nil && strings.Contains(d.Detail, "value must be known") &&
			slices.ContainsFunc(failed, func(r hcl.Range) bool {
				return r.Filename == d.Subject.Filename && r.Start.Line == d.Subject.Start.Line
			}) {
			continue
		}
		if d.Severity == hcl.DiagError && d.Subject != nil {
			failed = append(failed, *d.Subject)
		}
		out = append(out, d)
	}
	return out
}

// LoadOrDefault loads the file at path; if it does not exist and was not
// asked for explicitly (a default path), it loads def, named defName in
// diagnostics, instead.
func (p *Parser) LoadOrDefault(path string, explicit bool, def []byte, defName string) (*config.Config, hcl.Diagnostics) {
	if _, err := os.Stat(path); err != nil && !explicit && errors.Is(err, os.ErrNotExist) {
		return p.Load(def, defName)
	}
	return p.LoadFile(path)
}

// minQueryCredential is the shortest URL query value taken for a
// credential: "format=json" must not blank out every "json" in the logs.
const minQueryCredential = 8

// urlCredentials are the secrets a backend URL carries: its userinfo
// password, and query values long enough to be keys (?api_key=…).
func urlCredentials(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	var out []string
	if p, ok := u.User.Password(); ok {
		out = append(out, p)
	}
	for _, vs := range u.Query() {
		for _, v := range vs {
			if len(v) >= minQueryCredential {
				out = append(out, v)
			}
		}
	}
	return out
}
