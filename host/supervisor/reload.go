package supervisor

import (
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/hashicorp/hcl/v2"

	"github.com/argusmcp/argus/host/catalog"
	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/events"
	"github.com/argusmcp/argus/host/health"
)

// config returns the configuration in force.
func (sv *Supervisor) config() *config.Config {
	sv.mu.RLock()
	defer sv.mu.RUnlock()
	return sv.cfg
}

// ReloadSummary says what Apply changed.
type ReloadSummary struct {
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
	Changed []string `json:"changed"`
	// Updated lists backends whose changed settings were applied without
	// restarting them (trace_propagation).
	Updated []string `json:"updated"`
	// Restart lists settings that changed but only take effect after a
	// restart (the caller adds the sections it cannot apply itself).
	Restart []string `json:"restart_required"`
}

// Apply switches the gateway to cfg: backends that were removed are
// stopped, new ones are started, changed ones are restarted; the conflict
// policy, filters and health settings take effect at once. Backends whose
// configuration did not change, and client sessions, are not disturbed.
// Under the "error" strategy a configuration whose capabilities would
// conflict is refused as a whole before anything changes.
//
// restart names settings the caller found changed but cannot apply: they
// are reported under restart_required with the gateway's own (server,
// auth, log).
func (sv *Supervisor) Apply(cfg *config.Config, restart ...string) (ReloadSummary, error) {
	old := sv.config()
	sum := ReloadSummary{Added: []string{}, Removed: []string{}, Changed: []string{}, Updated: []string{}, Restart: []string{}}
	oldBy := map[string]config.Backend{}
	for _, b := range old.Backends {
		oldBy[b.Name] = b
	}
	newBy := map[string]config.Backend{}
	for _, b := range cfg.Backends {
		newBy[b.Name] = b
		prev, ok := oldBy[b.Name]
		switch {
		case !ok:
			sum.Added = append(sum.Added, b.Name)
		case !sameBackend(prev, b):
			sum.Changed = append(sum.Changed, b.Name)
		case prev.TracePropagation != b.TracePropagation:
			sum.Updated = append(sum.Updated, b.Name)
		}
	}
	for _, b := range old.Backends {
		if _, ok := newBy[b.Name]; !ok {
			sum.Removed = append(sum.Removed, b.Name)
		}
	}
	// Compared with the configuration in force since New: a reload that
	// changes them back needs no restart.
	if !reflect.DeepEqual(sv.boot.Server, cfg.Server) {
		sum.Restart = append(sum.Restart, "server")
	}
	if !reflect.DeepEqual(sv.boot.Auth, cfg.Auth) {
		sum.Restart = append(sum.Restart, "auth")
	}
	if !reflect.DeepEqual(sv.boot.Log, cfg.Log) {
		sum.Restart = append(sum.Restart, "log")
	}
	sum.Restart = append(sum.Restart, restart...)

	// Check the new policy against what stays before touching anything.
	if cfg.Conflict.Strategy == config.StrategyError {
		keep := map[string]*catalog.Inventory{}
		for _, name := range cfg.Backends {
			if inv := sv.catalog.Inventory(name.Name); inv != nil && !slices.Contains(sum.Changed, name.Name) {
				keep[name.Name] = inv
			}
		}
		if _, _, err := catalog.Build(catalog.PolicyFromConfig(cfg), keep); err != nil {
			return sum, err
		}
	}

	sv.mu.Lock()
	if sv.closed {
		sv.mu.Unlock()
		return sum, fmt.Errorf("gateway is shutting down")
	}
	sv.cfg = cfg
	var stopped []*liveBackend
	for _, name := range append(slices.Clone(sum.Removed), sum.Changed...) {
		if lb := sv.backends[name]; lb != nil {
			stopped = append(stopped, lb)
			delete(sv.backends, name)
		}
	}
	var started []*liveBackend
	for _, b := range cfg.Backends {
		if slices.Contains(sum.Added, b.Name) || slices.Contains(sum.Changed, b.Name) {
			lb := sv.newLiveBackendLocked(b)
			sv.backends[b.Name] = lb
			started = append(started, lb)
		}
	}
	sv.mu.Unlock()

	// Health rules apply to the backends that keep running, from their
	// next check on (interval and timeout are read at every check), and
	// so does what of a trace context they are sent, from their next
	// request.
	rules := health.Rules{DegradedLatency: cfg.Health.DegradedLatency, FailureThreshold: cfg.Health.FailureThreshold}
	for _, lb := range sv.liveBackends() {
		lb.mu.Lock()
		lb.tracker.Rules = rules
		lb.mu.Unlock()
		if b, ok := newBy[lb.cfg.Name]; ok {
			lb.propagation.Store(&b.TracePropagation)
		}
	}
	for _, lb := range stopped {
		sv.stopBackend(lb)
	}
	change, conflicts, err := sv.catalog.SetPolicy(catalog.PolicyFromConfig(cfg))
	sv.logConflicts(conflicts)
	if err != nil {
		sv.log.Error("reloaded policy conflicts; catalogue unchanged", "error", err)
	}
	sv.onChange(change)
	for _, lb := range started {
		sv.wg.Go(func() {
			conn, err := sv.connect(sv.ctx, lb, false)
			if err != nil && !errors.Is(err, errStopped) {
				sv.log.Error("backend added by reload is unavailable; retrying in the background", "backend", lb.cfg.Name, "error", err)
			}
			sv.run(lb, conn)
		})
	}
	sv.events.Emit(events.Info, "reload", "config", fmt.Sprintf("configuration reloaded: %d added, %d removed, %d changed, %d updated", len(sum.Added), len(sum.Removed), len(sum.Changed), len(sum.Updated)),
		map[string]any{"added": sum.Added, "removed": sum.Removed, "changed": sum.Changed, "updated": sum.Updated, "restart_required": sum.Restart})
	if len(sum.Restart) > 0 {
		sv.log.Warn("configuration reloaded; some settings take effect only after a restart", "settings", sum.Restart)
	}
	return sum, nil
}

// stopBackend ends a removed backend: its supervisor closes the session
// and withdraws its capabilities; per-client links close too.
func (sv *Supervisor) stopBackend(lb *liveBackend) {
	sv.transition(lb, health.EventStop, "removed by reload")
	sv.catMu.Lock()
	lb.cancel()
	change := sv.catalog.Remove(lb.cfg.Name)
	sv.catMu.Unlock()
	sv.onChange(change)
}

// sameBackend reports whether a and b need no restart between them: what
// differs, if anything, applies to the running backend (where it is
// declared, its trace_propagation).
func sameBackend(a, b config.Backend) bool {
	a.DeclRange, b.DeclRange = hcl.Range{}, hcl.Range{}
	a.TracePropagation, b.TracePropagation = "", ""
	return reflect.DeepEqual(a, b)
}
