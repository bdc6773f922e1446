package supervisor

import (
	"context"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/argusmcp/argus/host/backend"
	"github.com/argusmcp/argus/host/events"
	"github.com/argusmcp/argus/host/health"
)

// Prober checks one backend. The implementation is the health probe
// plugins' (host/pluginhost/probe.Prober): the built-in ping probe
// (plugins/ping) unless the configuration names others.
type Prober interface {
	Probe(ctx context.Context, backend string, conn *backend.Conn) health.Result
}

// check runs lb's health checks every interval (jittered by ±10%) while
// the backend is connected, and moves its phase by the health rules.
func (sv *Supervisor) check(lb *liveBackend) {
	for {
		interval := sv.config().Health.Interval
		wait := interval - interval/10 + rand.N(interval/5+1)
		select {
		case <-time.After(wait):
		case <-lb.ctx.Done():
			return
		}
		lb.mu.Lock()
		live := lb.phase.Live()
		lb.mu.Unlock()
		conn := lb.shared.Conn()
		if !live || conn == nil {
			continue
		}
		sv.checkOnce(lb, conn)
	}
}

// SetProbes replaces the probes that check every backend, from the next
// check on (a reload that adds, changes or removes probe plugins). Empty
// means no checks.
func (sv *Supervisor) SetProbes(probes []Prober) {
	sv.mu.Lock()
	sv.probes = probes
	sv.mu.Unlock()
}

func (sv *Supervisor) checkOnce(lb *liveBackend, conn *backend.Conn) {
	timeout := sv.config().Health.Timeout
	sv.mu.RLock()
	probes := sv.probes
	sv.mu.RUnlock()
	if len(probes) == 0 {
		return // no probe configured: nothing judges the backend's health
	}
	results := make([]health.Result, 0, len(probes))
	var unknown []string
	for _, p := range probes {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		r := p.Probe(ctx, lb.cfg.Name, conn)
		if ctx.Err() != nil && r.Status != health.StatusUnhealthy && r.Status != health.StatusUnknown {
			r = health.Result{Status: health.StatusUnhealthy, Message: "check timed out after " + timeout.String(), Latency: timeout}
		}
		cancel()
		if r.Status == health.StatusUnknown {
			// The probe itself could not run (its plugin is restarting):
			// that says nothing about the backend.
			unknown = append(unknown, r.Message)
			continue
		}
		results = append(results, r)
	}
	if len(results) == 0 {
		lb.conds.Set(health.CondProbeUnavailable, true, "NoProbe", strings.Join(unknown, "; "))
		return
	}
	if _, ok := lb.conds.Get(health.CondProbeUnavailable); ok {
		lb.conds.Set(health.CondProbeUnavailable, false, "ProbeRan", "a probe ran")
	}
	r := health.Worst(results...)
	lb.mu.Lock()
	prev := lb.tracker.Last.Status
	now := time.Now()
	status := lb.tracker.Observe(r, now)
	lb.checks.Add(health.Result{Status: status, Latency: r.Latency}, now)
	last := lb.tracker.Last
	failures := lb.tracker.ConsecutiveFailures
	lb.mu.Unlock()

	switch status {
	case health.StatusHealthy:
		lb.conds.Set(health.CondHealthCheckFailed, false, "Passed", "answered in "+r.Latency.Round(time.Millisecond).String())
		lb.conds.Set(health.CondHealthy, true, "Healthy", "answered in "+r.Latency.Round(time.Millisecond).String())
		sv.transition(lb, health.EventHealthy, "health check passed")
	case health.StatusDegraded:
		reason := "Slow"
		if failures > 0 {
			reason = "Failing"
			lb.conds.Set(health.CondHealthCheckFailed, true, reason, last.Message)
		} else {
			lb.conds.Set(health.CondHealthCheckFailed, false, "Passed", last.Message)
		}
		lb.conds.Set(health.CondHealthy, false, reason, last.Message)
		sv.transition(lb, health.EventDegraded, last.Message)
	case health.StatusUnhealthy:
		lb.conds.Set(health.CondHealthCheckFailed, true, "Unhealthy", last.Message)
		lb.conds.Set(health.CondHealthy, false, "Unhealthy", last.Message)
		signal(lb.unhealthy)
	}
	if prev != last.Status && prev != "" {
		sev := events.Info
		if last.Status != health.StatusHealthy {
			sev = events.Warning
		}
		sv.events.Emit(sev, "health", lb.cfg.Name, string(last.Status)+": "+last.Message,
			map[string]any{"latency_ms": float64(r.Latency.Microseconds()) / 1000, "consecutive_failures": failures})
	}
}
