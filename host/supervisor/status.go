package supervisor

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
	Name            string       `json:"name"`
	Type            string       `json:"type"`
	Phase           health.Phase `json:"phase"`
	State           string       `json:"state"` // "connected" or "disconnected"
	Since           time.Time    `json:"since"` // when the phase was entered
	Error           string       `json:"error"` // why it last failed; "" while Ready
	ProtocolVersion string       `json:"protocol_version,omitempty"`
	SessionMode     string       `json:"session_mode"`
	// TracePropagation is what of a trace context the backend is sent
	// (trace_propagation).
	TracePropagation string             `json:"trace_propagation"`
	Capabilities     CapabilityCounts   `json:"capabilities"`
	Health           HealthStatus       `json:"health"`
	Conditions       []health.Condition `json:"conditions"`
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
	// History is the latest checks (up to health.HistorySize), oldest
	// first, across reconnects: the console's latency sparkline.
	History []health.Sample `json:"history"`
}

// Backends reports every backend, in configuration order.
func (sv *Supervisor) Backends() []BackendStatus {
	lbs := sv.ordered()
	out := make([]BackendStatus, 0, len(lbs))
	snap := sv.catalog.Snapshot()
	for _, lb := range lbs {
		out = append(out, sv.backendStatus(lb, snap.Counts))
	}
	return out
}

// ordered lists the backends in configuration order.
func (sv *Supervisor) ordered() []*liveBackend {
	sv.mu.RLock()
	defer sv.mu.RUnlock()
	lbs := make([]*liveBackend, 0, len(sv.backends))
	for _, bc := range sv.cfg.Backends { // sv.mu guards sv.cfg
		if lb := sv.backends[bc.Name]; lb != nil {
			lbs = append(lbs, lb)
		}
	}
	return lbs
}

// Backend reports one backend.
func (sv *Supervisor) Backend(name string) (BackendStatus, bool) {
	sv.mu.RLock()
	lb := sv.backends[name]
	sv.mu.RUnlock()
	if lb == nil {
		return BackendStatus{}, false
	}
	return sv.backendStatus(lb, sv.catalog.Snapshot().Counts), true
}

func (sv *Supervisor) backendStatus(lb *liveBackend, counts func(string) (int, int, int, int)) BackendStatus {
	s := BackendStatus{Name: lb.cfg.Name, Type: lb.cfg.Type, SessionMode: lb.cfg.SessionMode, TracePropagation: lb.tracePropagation(), State: "disconnected"}
	if conn := lb.shared.Conn(); conn != nil {
		s.State = "connected"
		s.ProtocolVersion = conn.ProtocolVersion()
	}
	c := &s.Capabilities
	c.Tools, c.Resources, c.ResourceTemplates, c.Prompts = counts(lb.cfg.Name)
	lb.mu.Lock()
	s.Phase, s.Since, s.Error = lb.phase, lb.since.UTC(), lb.lastErr
	t, hist := lb.tracker, lb.checks
	lb.mu.Unlock()
	s.Health = HealthStatus{Status: t.Last.Status, Message: t.Last.Message, ConsecutiveFailures: t.ConsecutiveFailures, Checks: t.Checks,
		LatencyMS: float64(t.Last.Latency.Microseconds()) / 1000, History: hist.List()}
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
func (sv *Supervisor) Started() (bool, time.Time) {
	select {
	case <-sv.startup:
		return true, sv.startedAt
	default:
		return false, sv.startedAt
	}
}

func (sv *Supervisor) liveBackends() []*liveBackend {
	sv.mu.RLock()
	defer sv.mu.RUnlock()
	return slices.Collect(maps.Values(sv.backends))
}

// BackendConn returns backend name's configuration and its live shared
// session (nil while it is not connected); ok is false for no such
// backend. For the probe host service.
func (sv *Supervisor) BackendConn(name string) (conn *backend.Conn, cfg config.Backend, ok bool) {
	sv.mu.RLock()
	lb := sv.backends[name]
	sv.mu.RUnlock()
	if lb == nil {
		return nil, config.Backend{}, false
	}
	return lb.shared.Conn(), lb.cfg, true
}
