package manage

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/argusmcp/argus/host/audit"
	"github.com/argusmcp/argus/host/catalog"
	"github.com/argusmcp/argus/host/events"
	"github.com/argusmcp/argus/host/gateway"
	"github.com/argusmcp/argus/host/health"
	"github.com/argusmcp/argus/host/identity"
	"github.com/argusmcp/argus/host/supervisor"
	"github.com/argusmcp/argus/shared/healthstatus"
)

// CatalogView is the aggregated catalogue; *catalog.Catalog implements it.
type CatalogView interface {
	Snapshot() *catalog.Snapshot
}

// EventLog is the event log; *events.Log implements it.
type EventLog interface {
	Find(events.Query) []events.Event
	Subscribe(after uint64, buffer int) ([]events.Event, <-chan events.Event, func())
}

// Health is the body of GET /health.
type Health struct {
	Status        healthstatus.Status `json:"status"` // healthy | degraded | unhealthy
	UptimeSeconds float64             `json:"uptime_seconds"`
	Version       string              `json:"version"`
	Backends      struct {
		Total     int `json:"total"`
		Connected int `json:"connected"`
		Healthy   int `json:"healthy"`
	} `json:"backends"`
}

// Evaluate derives the gateway's health from its backends: healthy when
// every backend is Ready (or none is configured), unhealthy when none is,
// degraded otherwise.
func Evaluate(backends []supervisor.BackendStatus) (status healthstatus.Status, connected, ready int) {
	for _, b := range backends {
		if b.State == "connected" {
			connected++
		}
		if b.Phase == health.Ready {
			ready++
		}
	}
	switch {
	case ready == len(backends):
		return healthstatus.Healthy, connected, ready
	case ready == 0:
		return healthstatus.Unhealthy, connected, ready
	}
	return healthstatus.Degraded, connected, ready
}

func (a *API) health(w http.ResponseWriter, _ *http.Request) {
	bs := a.o.Gateway.Backends()
	var h Health
	h.Status, h.Backends.Connected, h.Backends.Healthy = Evaluate(bs)
	h.Backends.Total = len(bs)
	h.Version = a.o.Version
	if a.o.Started != nil {
		if _, since := a.o.Started(); !since.IsZero() {
			h.UptimeSeconds = time.Since(since).Round(time.Millisecond).Seconds()
		}
	}
	code := http.StatusOK
	if h.Status == healthstatus.Unhealthy {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, h)
}

// Ready is the body of GET /ready.
type Ready struct {
	Ready bool `json:"ready"`
	// Starting is true until start-up is done: every backend's first
	// connection attempt and every plugin the serving path needs.
	Starting bool `json:"starting"`
	// Draining is true once shutdown has begun: the replica still serves
	// in-flight requests and existing sessions but wants no new work.
	Draining bool     `json:"draining,omitempty"`
	Reason   string   `json:"reason"`
	Waiting  []string `json:"waiting,omitempty"` // what start-up still waits for
}

// ready answers 200 once start-up is done and at least one backend is
// Ready (or none is configured), else 503 with the reason; always 503
// while draining.
func (a *API) ready(w http.ResponseWriter, _ *http.Request) {
	if a.o.Draining != nil {
		if draining, until := a.o.Draining(); draining {
			reason := "draining before shutdown"
			if left := time.Until(until); left > 0 {
				reason += fmt.Sprintf(": in-flight requests and sessions are served for %v more", left.Round(100*time.Millisecond))
			}
			writeJSON(w, http.StatusServiceUnavailable, Ready{Draining: true, Reason: reason})
			return
		}
	}
	started := true
	if a.o.Started != nil {
		started, _ = a.o.Started()
	}
	var waiting []string
	if a.o.Starting != nil {
		waiting = a.o.Starting()
	}
	if !started || len(waiting) > 0 {
		reason := "start-up is not finished"
		if len(waiting) > 0 {
			reason += ": waiting for " + strings.Join(waiting, "; ")
		}
		writeJSON(w, http.StatusServiceUnavailable, Ready{Starting: true, Reason: reason, Waiting: waiting})
		return
	}
	bs := a.o.Gateway.Backends()
	_, _, ready := Evaluate(bs)
	switch {
	case len(bs) == 0:
		// Nothing to wait for: a gateway without backends is as ready as it gets.
		writeJSON(w, http.StatusOK, Ready{Ready: true, Reason: "no backends are configured"})
	case ready == 0:
		writeJSON(w, http.StatusServiceUnavailable, Ready{Reason: fmt.Sprintf("none of %d backends is Ready", len(bs))})
	default:
		writeJSON(w, http.StatusOK, Ready{Ready: true, Reason: fmt.Sprintf("%d of %d backends Ready", ready, len(bs))})
	}
}

func (a *API) status(w http.ResponseWriter, r *http.Request) {
	bs := a.o.Gateway.Backends()
	var h Health
	h.Status, h.Backends.Connected, h.Backends.Healthy = Evaluate(bs)
	h.Backends.Total = len(bs)
	h.Version = a.o.Version
	if a.o.Started != nil {
		if _, since := a.o.Started(); !since.IsZero() {
			h.UptimeSeconds = time.Since(since).Round(time.Millisecond).Seconds()
		}
	}
	snap := a.o.Catalog.Snapshot()
	var plugins any = []any{}
	if a.o.Plugins != nil {
		plugins = a.o.Plugins()
	}
	var auditStats any = []any{}
	if a.o.AuditStats != nil {
		auditStats = a.o.AuditStats()
	}
	var telemetryStats any = []any{}
	if a.o.TelemetryStats != nil {
		telemetryStats = a.o.TelemetryStats()
	}
	var panics int64
	if a.o.PanicsRecovered != nil {
		panics = a.o.PanicsRecovered()
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"health":           h,
		"panics_recovered": panics,
		"backends":         bs,
		"catalogue": map[string]int{
			"tools": len(snap.Tools()), "resources": len(snap.Resources()),
			"resource_templates": len(snap.Templates()), "prompts": len(snap.Prompts()),
		},
		"sessions":           len(a.o.Gateway.Sessions()),
		"stateless_requests": a.o.Gateway.StatelessInFlight(),
		"plugins":            plugins,
		"audit":              auditStats,
		"telemetry":          telemetryStats,
	})
}

func (a *API) backends(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"backends": a.o.Gateway.Backends()})
}

func (a *API) backend(w http.ResponseWriter, r *http.Request) {
	b, ok := a.o.Gateway.Backend(r.PathValue("name"))
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no backend named %q", r.PathValue("name")))
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// Capability is one entry of GET /capabilities: an exposed name and where
// it routes.
type Capability struct {
	Type         string `json:"type"` // tool | resource | resource_template | prompt
	Name         string `json:"name"` // exposed name, URI or URI template
	Backend      string `json:"backend"`
	OriginalName string `json:"original_name"`
	Description  string `json:"description,omitempty"`
}

func (a *API) capabilities(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	typ, backendName, search := q.Get("type"), q.Get("backend"), strings.ToLower(q.Get("search"))
	types := []string{"tool", "resource", "resource_template", "prompt"}
	if typ != "" && !slices.Contains(types, typ) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("type must be one of %s", strings.Join(types, ", ")))
		return
	}
	snap := a.o.Catalog.Snapshot()
	var all []Capability
	for _, t := range snap.Tools() {
		rt, _ := snap.Tool(t.Name)
		all = append(all, Capability{"tool", t.Name, rt.Backend, rt.Name, t.Description})
	}
	for _, res := range snap.Resources() {
		rt, _ := snap.Resource(res.URI)
		all = append(all, Capability{"resource", res.URI, rt.Backend, rt.Name, res.Description})
	}
	for _, t := range snap.Templates() {
		rt, _ := snap.Template(t.URITemplate)
		all = append(all, Capability{"resource_template", t.URITemplate, rt.Backend, rt.Name, t.Description})
	}
	for _, p := range snap.Prompts() {
		rt, _ := snap.Prompt(p.Name)
		all = append(all, Capability{"prompt", p.Name, rt.Backend, rt.Name, p.Description})
	}
	out := []Capability{}
	routes := map[string]string{}
	for _, c := range all {
		if (typ != "" && c.Type != typ) || (backendName != "" && c.Backend != backendName) ||
			(search != "" && !strings.Contains(strings.ToLower(c.Name+" "+c.Description), search)) {
			continue
		}
		out = append(out, c)
		routes[c.Type+":"+c.Name] = c.Backend + ":" + c.OriginalName
	}
	writeJSON(w, http.StatusOK, map[string]any{"capabilities": out, "routes": routes, "count": len(out)})
}

func (a *API) sessions(w http.ResponseWriter, _ *http.Request) {
	s := a.o.Gateway.Sessions()
	if s == nil {
		s = []gateway.SessionStatus{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": s})
}

func (a *API) plugins(w http.ResponseWriter, _ *http.Request) {
	var p any = []any{}
	if a.o.Plugins != nil {
		p = a.o.Plugins()
	}
	writeJSON(w, http.StatusOK, map[string]any{"plugins": p})
}

func (a *API) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	query := events.Query{MinSeverity: q.Get("severity")}
	if query.MinSeverity != "" && !events.ValidSeverity(query.MinSeverity) {
		writeError(w, http.StatusBadRequest, "severity must be info, warning or error")
		return
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "limit must be a non-negative integer")
			return
		}
		query.Limit = n
	}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			if id, err2 := strconv.ParseUint(v, 10, 64); err2 == nil {
				query.After = id
			} else {
				writeError(w, http.StatusBadRequest, "since must be an RFC 3339 time or an event id")
				return
			}
		}
		query.Since = t
	}
	ev := a.o.Events.Find(query)
	if ev == nil {
		ev = []events.Event{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": ev})
}

// audit records a mutation, when an audit trail is configured, with who
// made it (ServeHTTP put them in the request's context) and from where.
func (a *API) audit(r *http.Request, op, target string, start time.Time, err error) {
	if a.o.Audit == nil {
		return
	}
	var ip string
	if a.o.ClientIP != nil {
		ip = a.o.ClientIP(r)
	} else if host, _, splitErr := net.SplitHostPort(r.RemoteAddr); splitErr == nil {
		ip = host
	} else {
		ip = r.RemoteAddr
	}
	who, _ := r.Context().Value(callerKey{}).(identity.Identity)
	a.o.Audit(r.Context(), audit.Mutation{Operation: op, Target: target, ClientIP: ip,
		User: who.UserID, Issuer: who.Issuer, Groups: who.Groups, Start: start, Err: err})
}

func (a *API) reconnect(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	start := time.Now()
	err := a.o.Gateway.Reconnect(name)
	a.audit(r, "reconnect_backend", name, start, err)
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	a.o.Logger.Info("management: reconnect requested", "backend", name, "client_ip", r.RemoteAddr)
	writeJSON(w, http.StatusAccepted, map[string]any{"reconnecting": name})
}

func (a *API) reload(w http.ResponseWriter, r *http.Request) {
	if a.o.Reload == nil {
		writeError(w, http.StatusNotImplemented, "this gateway was started without a configuration file to reload")
		return
	}
	start := time.Now()
	sum, diags, err := a.o.Reload()
	a.audit(r, "reload_config", "", start, err)
	switch {
	case errors.Is(err, ErrInvalidConfig):
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error(), "diagnostics": diags})
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
	default:
		a.o.Logger.Info("management: configuration reloaded", "client_ip", r.RemoteAddr)
		writeJSON(w, http.StatusOK, map[string]any{"reloaded": true, "diagnostics": diags,
			"added": sum.Added, "removed": sum.Removed, "changed": sum.Changed, "updated": sum.Updated, "restart_required": sum.Restart})
	}
}
