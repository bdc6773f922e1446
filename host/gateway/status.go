package gateway

import (
	"maps"
	"slices"
	"time"

	"github.com/argusmcp/argus/host/backend"
	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/health"
)

// BackendStatus is one backend as the management API shows it.
type BackendStatus struct {
	Name            string             `json:"name"`
	Type            string             `json:"type"`
	Phase           health.Phase       `json:"phase"`
	State           string             `json:"state"` // "connected" or "disconnected"
	Since           time.Time          `json:"since"` // when the phase was entered
	Error           string             `json:"error"` // why it last failed; "" while Ready
	ProtocolVersion string             `json:"protocol_version,omitempty"`
	SessionMode     string             `json:"session_mode"`
	Capabilities    CapabilityCounts   `json:"capabilities"`
	Health          HealthStatus       `json:"health"`
	Conditions      []health.Condition `json:"conditions"`
}

// CapabilityCounts counts what a backend contributes to the catalogue.
type CapabilityCounts struct {
	Tools             int `json:"tools"`
	Resources         int `json:"resources"`
	ResourceTemplates int `json:"resource_templates"`
	Prompts           int `json:"prompts"`
}

// HealthStatus is the outcome of a backend's health checks.
type HealthStatus struct {
	Status              health.Status `json:"status"`
	Message             string        `json:"message,omitempty"`
	LastCheck           *time.Time    `json:"last_check"`
	LatencyMS           float64       `json:"latency_ms"`
	ConsecutiveFailures int           `json:"consecutive_failures"`
	Checks              int           `json:"checks"` // since the backend last connected
}

// Backends reports every backend, in configuration order.
func (g *Gateway) Backends() []BackendStatus {
	lbs := g.ordered()
	out := make([]BackendStatus, 0, len(lbs))
	snap := g.catalog.Snapshot()
	for _, lb := range lbs {
		out = append(out, g.backendStatus(lb, snap.Counts))
	}
	return out
}

// ordered lists the backends in configuration order.
func (g *Gateway) ordered() []*liveBackend {
	g.mu.RLock()
	defer g.mu.RUnlock()
	lbs := make([]*liveBackend, 0, len(g.backends))
	for _, bc := range g.cfg.Backends { // g.mu guards g.cfg
		if lb := g.backends[bc.Name]; lb != nil {
			lbs = append(lbs, lb)
		}
	}
	return lbs
}

// Backend reports one backend.
func (g *Gateway) Backend(name string) (BackendStatus, bool) {
	g.mu.RLock()
	lb := g.backends[name]
	g.mu.RUnlock()
	if lb == nil {
		return BackendStatus{}, false
	}
	return g.backendStatus(lb, g.catalog.Snapshot().Counts), true
}

func (g *Gateway) backendStatus(lb *liveBackend, counts func(string) (int, int, int, int)) BackendStatus {
	s := BackendStatus{Name: lb.cfg.Name, Type: lb.cfg.Type, SessionMode: lb.cfg.SessionMode, State: "disconnected"}
	if conn := lb.shared.Conn(); conn != nil {
		s.State = "connected"
		s.ProtocolVersion = conn.ProtocolVersion()
	}
	c := &s.Capabilities
	c.Tools, c.Resources, c.ResourceTemplates, c.Prompts = counts(lb.cfg.Name)
	lb.mu.Lock()
	s.Phase, s.Since, s.Error = lb.phase, lb.since.UTC(), lb.lastErr
	t := lb.tracker
	lb.mu.Unlock()
	s.Health = HealthStatus{Status: t.Last.Status, Message: t.Last.Message, ConsecutiveFailures: t.ConsecutiveFailures, Checks: t.Checks,
		LatencyMS: float64(t.Last.Latency.Microseconds()) / 1000}
	if s.Health.Status == "" {
		s.Health.Status = health.StatusUnknown
	}
	if !t.LastCheck.IsZero() {
		at := t.LastCheck.UTC()
		s.Health.LastCheck = &at
	}
	s.Conditions = lb.conds.List()
	if s.Conditions == nil {
		s.Conditions = []health.Condition{}
	}
	return s
}

// Started reports whether start-up has finished, and since when the
// gateway runs.
func (g *Gateway) Started() (bool, time.Time) {
	select {
	case <-g.startup:
		return true, g.startedAt
	default:
		return false, g.startedAt
	}
}

// Sessions lists the connected client sessions.
func (g *Gateway) Sessions() []SessionStatus {
	var out []SessionStatus
	for ss := range g.server.Sessions() {
		s := SessionStatus{ID: ss.ID()}
		if u, ok := g.users.get(ss); ok {
			s.User, s.Issuer, s.Groups = u.User, u.Issuer, u.Groups
		}
		if ip := ss.InitializeParams(); ip != nil {
			s.ProtocolVersion = ip.ProtocolVersion
			if ip.ClientInfo != nil {
				s.Client = ip.ClientInfo.Name + " " + ip.ClientInfo.Version
			}
		}
		for _, lb := range g.liveBackends() {
			lb.clientMu.Lock()
			if _, ok := lb.clients[ss]; ok {
				s.PerClientBackends = append(s.PerClientBackends, lb.cfg.Name)
			}
			lb.clientMu.Unlock()
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b SessionStatus) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

// SessionStatus is one connected client session.
type SessionStatus struct {
	ID                string   `json:"id"`
	Client            string   `json:"client,omitempty"`
	ProtocolVersion   string   `json:"protocol_version,omitempty"`
	PerClientBackends []string `json:"per_client_backends,omitempty"`
	// User is who the session belongs to, once it has made an aggregated
	// call (""; anonymous); Issuer and Groups when a JWT authenticated
	// them.
	User   string   `json:"user,omitempty"`
	Issuer string   `json:"issuer,omitempty"`
	Groups []string `json:"groups,omitempty"`
}

func (g *Gateway) liveBackends() []*liveBackend {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return slices.Collect(maps.Values(g.backends))
}

// BackendConn returns backend name's configuration and its live shared
// session (nil while it is not connected); ok is false for no such
// backend. For the probe host service.
func (g *Gateway) BackendConn(name string) (conn *backend.Conn, cfg config.Backend, ok bool) {
	g.mu.RLock()
	lb := g.backends[name]
	g.mu.RUnlock()
	if lb == nil {
		return nil, config.Backend{}, false
	}
	return lb.shared.Conn(), lb.cfg, true
}
