package health

import (
	"time"

	"github.com/argusmcp/argus/shared/healthstatus"
)

// Status is a backend's health as the checks see it: the health
// vocabulary the host shares with probe plugins (shared/healthstatus).
type Status = healthstatus.Status

// Health statuses, as probes report them.
const (
	StatusHealthy   = healthstatus.Healthy
	StatusDegraded  = healthstatus.Degraded
	StatusUnhealthy = healthstatus.Unhealthy
	StatusUnknown   = healthstatus.Unknown // not checked yet, or the probe could not run
)

// Result is one probe's verdict on one backend.
type Result struct {
	Status  Status
	Message string
	Latency time.Duration
}

// Rules turn probe results into a health status.
type Rules struct {
	// DegradedLatency: a success slower than this is degraded.
	DegradedLatency time.Duration
	// FailureThreshold: this many consecutive failures make a backend
	// unhealthy; fewer make it degraded.
	FailureThreshold int
}

// Tracker applies Rules to a backend's sequence of check results. Not safe
// for concurrent use; each backend's checker owns one.
type Tracker struct {
	Rules               Rules
	Checks              int // checks observed so far
	ConsecutiveFailures int
	Last                Result
	LastCheck           time.Time
}

// Observe folds one check into the tracker and returns the resulting
// status. The worst of several probes' results is passed in by the caller.
//
//   - success within DegradedLatency → healthy (failures reset);
//   - slower success, or a probe that itself says degraded → degraded
//     (failures reset: the backend answers);
//   - failure → degraded until FailureThreshold consecutive failures,
//     then unhealthy.
func (t *Tracker) Observe(r Result, at time.Time) Status {
	t.LastCheck = at
	t.Checks++
	switch r.Status {
	case StatusHealthy, StatusDegraded:
		t.ConsecutiveFailures = 0
		if r.Status == StatusHealthy && (t.Rules.DegradedLatency <= 0 || r.Latency <= t.Rules.DegradedLatency) {
			t.Last = r
			return StatusHealthy
		}
		t.Last = Result{Status: StatusDegraded, Message: r.Message, Latency: r.Latency}
		if t.Last.Message == "" {
			t.Last.Message = "answered in " + r.Latency.Round(time.Millisecond).String() + ", slower than " + t.Rules.DegradedLatency.String()
		}
		return StatusDegraded
	default:
		t.ConsecutiveFailures++
		t.Last = r
		if t.ConsecutiveFailures >= max(1, t.Rules.FailureThreshold) {
			return StatusUnhealthy
		}
		return StatusDegraded
	}
}

// Worst combines the results of several probes of one backend: the worst
// status wins, and its message; latency is the largest.
func Worst(results ...Result) Result {
	var w Result
	for i, r := range results {
		if i == 0 || r.Status.Rank() > w.Status.Rank() {
			lat := max(w.Latency, r.Latency)
			w = r
			w.Latency = lat
		} else {
			w.Latency = max(w.Latency, r.Latency)
		}
	}
	return w
}
