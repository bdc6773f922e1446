// Package healthstatus is the health vocabulary the host and plugins
// share: the status a health probe reports for a backend, the status the
// host's health rules derive from those reports, and the status the
// management API shows. One type for all of them, so a status keeps its
// spelling from the probe plugin to the operator.
//
// It is plain data: the SDK (sdk.Status) and the host (host/health,
// host/pluginhost/probe, host/manage) both use it, and it imports
// neither of them nor any wire type.
package healthstatus

// Status is a health status. Its value is the spelling the management API
// and the audit and event logs use.
type Status string

// The statuses, from best to worst.
const (
	// Healthy: the backend answers within the latency bound.
	Healthy Status = "healthy"
	// Degraded: the backend answers, but slowly, or some checks fail.
	Degraded Status = "degraded"
	// Unhealthy: the backend does not answer, or a probe says so.
	Unhealthy Status = "unhealthy"
	// Unknown: not checked yet, or the probe itself could not run (which
	// says nothing about the backend). It is also the zero value's
	// meaning: an empty Status is reported as "unknown".
	Unknown Status = "unknown"
)

// String returns the status's spelling; "unknown" for the zero value.
func (s Status) String() string {
	if s == "" {
		return string(Unknown)
	}
	return string(s)
}

// Rank orders statuses from best (0, Healthy) to worst (Unhealthy); an
// unknown status ranks between healthy and degraded. Combining several
// probes' results keeps the worst.
func (s Status) Rank() int {
	switch s {
	case Healthy:
		return 0
	case Degraded:
		return 2
	case Unhealthy:
		return 3
	}
	return 1
}
