package health

import "time"

// HistorySize is how many checks a History keeps: at the default 30s
// interval, the last half hour.
const HistorySize = 60

// Sample is one health check as a History keeps it.
type Sample struct {
	At        time.Time `json:"at"`
	LatencyMS float64   `json:"latency_ms"`
	Status    Status    `json:"status"`
}

// History is a fixed-size record of a backend's most recent checks (the
// console's latency sparkline). It is a value: copying it copies the
// samples, so a snapshot taken under the owner's lock is safe to read
// after. Not safe for concurrent use.
type History struct {
	ring [HistorySize]Sample
	next int
	n    int
}

// Add records one check.
func (h *History) Add(r Result, at time.Time) {
	h.ring[h.next] = Sample{At: at.UTC(), LatencyMS: float64(r.Latency.Microseconds()) / 1000, Status: r.Status}
	h.next = (h.next + 1) % HistorySize
	h.n = min(h.n+1, HistorySize)
}

// List returns the samples, oldest first (an empty, non-nil slice when
// there are none).
func (h *History) List() []Sample {
	out := make([]Sample, 0, h.n)
	for i := h.n; i > 0; i-- {
		out = append(out, h.ring[(h.next-i+HistorySize)%HistorySize])
	}
	return out
}
