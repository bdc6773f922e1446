// Package health tracks each backend's lifecycle and health: the phase
// state machine README's "Backend lifecycle and health" section draws (and
// the transitions table below enforces), the conditions that explain it,
// and the rules that turn probe results into a health status.
package health

import (
	"fmt"
	"sync"
	"time"
)

// Phase is where a backend is in its lifecycle.
type Phase string

// Phases, as README's "Backend lifecycle and health" shows them.
const (
	Pending      Phase = "Pending"      // configured, not yet started
	Initializing Phase = "Initializing" // connecting: process start or HTTP session, initialize, listing
	Ready        Phase = "Ready"        // connected and healthy; its capabilities are served
	Degraded     Phase = "Degraded"     // connected but slow or failing checks; still served
	Failed       Phase = "Failed"       // unreachable or unhealthy; capabilities withdrawn, reconnecting
	ShuttingDown Phase = "ShuttingDown" // being stopped (shutdown, reload removal)
)

// Event is something that moves a backend between phases.
type Event string

// Events.
const (
	EventStart       Event = "start"        // begin connecting
	EventConnected   Event = "connected"    // initialize and listing succeeded
	EventConnectFail Event = "connect_fail" // a connection attempt failed
	EventHealthy     Event = "healthy"      // a check says healthy
	EventDegraded    Event = "degraded"     // a check says degraded
	EventUnhealthy   Event = "unhealthy"    // checks say unhealthy (failure threshold reached)
	EventLost        Event = "lost"         // the session ended (process died, connection dropped)
	EventReconnect   Event = "reconnect"    // a reconnect attempt begins
	EventStop        Event = "stop"         // shutting down or removed
)

// transitions is the lifecycle's transition table. Events not listed for a
// phase leave it unchanged and are rejected by Next.
var transitions = map[Phase]map[Event]Phase{
	Pending: {
		EventStart: Initializing,
		EventStop:  ShuttingDown,
	},
	Initializing: {
		EventConnected:   Ready,
		EventConnectFail: Failed,
		EventStop:        ShuttingDown,
	},
	Ready: {
		EventHealthy:   Ready,
		EventDegraded:  Degraded,
		EventUnhealthy: Failed,
		EventLost:      Failed,
		EventReconnect: Initializing, // an operator asked for a reconnect
		EventStop:      ShuttingDown,
	},
	Degraded: {
		EventHealthy:   Ready,
		EventDegraded:  Degraded,
		EventUnhealthy: Failed,
		EventLost:      Failed,
		EventReconnect: Initializing,
		EventStop:      ShuttingDown,
	},
	Failed: {
		EventReconnect:   Initializing,
		EventConnectFail: Failed,
		EventUnhealthy:   Failed,
		EventLost:        Failed,
		EventStop:        ShuttingDown,
	},
	ShuttingDown: {
		EventStop: ShuttingDown,
	},
}

// Next returns the phase that follows p on e, or an error if e is not
// valid in p.
func Next(p Phase, e Event) (Phase, error) {
	if n, ok := transitions[p][e]; ok {
		return n, nil
	}
	return p, fmt.Errorf("lifecycle: event %q is not valid in phase %s", e, p)
}

// Live reports whether a backend in phase p serves its capabilities.
func (p Phase) Live() bool { return p == Ready || p == Degraded }

// Condition types. Each backend carries at most one condition of each;
// every status is a boolean.
const (
	// CondHealthCheckFailed: the last health check failed (true, with the
	// failure as message and reason Unhealthy or Failing) or passed
	// (false; a slow answer passes). This is the condition of the
	// product's published format.
	CondHealthCheckFailed = "HealthCheckFailed"
	// CondConnected: the backend's session is established (true) or not
	// (false, with the connection error).
	CondConnected = "Connected"
	// CondHealthy: the last health checks passed (true), were slow
	// (false, reason Slow) or failed (false, reason Unhealthy or
	// Failing).
	CondHealthy = "Healthy"
	// CondServing: the backend's capabilities are in the catalogue (true)
	// or withdrawn (false).
	CondServing = "Serving"
	// CondProbeUnavailable: no probe could run at the last check (true:
	// their plugins are restarting, so the backend's health is unknown and
	// the other conditions keep their last value).
	CondProbeUnavailable = "ProbeUnavailable"
)

// Condition is one observation about a backend, in the Kubernetes style
// with a boolean status, e.g.
// {"type":"HealthCheckFailed","status":true,"message":"…","last_transition":"…"}.
type Condition struct {
	Type           string    `json:"type"`
	Status         bool      `json:"status"`
	Reason         string    `json:"reason,omitempty"`
	Message        string    `json:"message"`
	LastTransition time.Time `json:"last_transition"`
}

// Conditions holds one Condition per type, updated in place, so the list
// stays bounded however often a backend flaps. Safe for concurrent use.
type Conditions struct {
	mu    sync.Mutex
	list  []Condition
	clock func() time.Time
}

// Set records a condition. LastTransition changes only when the status
// changes; a new message or reason with the same status updates in place.
// It reports whether the status changed.
func (c *Conditions) Set(typ string, status bool, reason, message string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now
	if c.clock != nil {
		now = c.clock
	}
	for i := range c.list {
		if c.list[i].Type != typ {
			continue
		}
		changed := c.list[i].Status != status
		if changed {
			c.list[i].LastTransition = now().UTC()
		}
		c.list[i].Status, c.list[i].Reason, c.list[i].Message = status, reason, message
		return changed
	}
	c.list = append(c.list, Condition{Type: typ, Status: status, Reason: reason, Message: message, LastTransition: now().UTC()})
	return true
}

// Get returns the condition of type typ, if it was ever set.
func (c *Conditions) Get(typ string) (Condition, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cond := range c.list {
		if cond.Type == typ {
			return cond, true
		}
	}
	return Condition{}, false
}

// List returns a copy of the conditions, in the order first set.
func (c *Conditions) List() []Condition {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Condition(nil), c.list...)
}
