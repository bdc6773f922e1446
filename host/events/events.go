// Package events keeps a bounded, in-memory log of what happened to the
// gateway's backends and plugins (phase and health changes, reconnects,
// plugin restarts, reloads) for the management API, with live
// subscriptions for its SSE stream.
package events

import (
	"sync"
	"time"
)

// Severities, from least to most severe.
const (
	Info    = "info"
	Warning = "warning"
	Error   = "error"
)

var severityRank = map[string]int{Info: 0, Warning: 1, Error: 2}

// Event is one entry. IDs increase by one per event for the life of the
// process, so a client can resume after the last ID it saw.
type Event struct {
	ID       uint64         `json:"id"`
	Time     time.Time      `json:"time"`
	Severity string         `json:"severity"`
	Kind     string         `json:"kind"`    // e.g. "phase", "health", "reconnect", "plugin_restart", "reload"
	Subject  string         `json:"subject"` // the backend or plugin instance concerned
	Message  string         `json:"message"`
	Data     map[string]any `json:"data,omitempty"`
}

// Log is a ring buffer of the most recent events plus subscribers. Safe
// for concurrent use.
type Log struct {
	mu   sync.Mutex
	buf  []Event
	head int // index of the oldest event when full
	next uint64
	subs map[chan Event]struct{}
}

// DefaultCapacity is how many events a Log keeps when New is given 0.
const DefaultCapacity = 1000

// New returns a Log that keeps the last capacity events.
func New(capacity int) *Log {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	return &Log{buf: make([]Event, 0, capacity), next: 1, subs: map[chan Event]struct{}{}}
}

// Emit records an event and hands it to every subscriber. A subscriber
// that cannot keep up is dropped (its channel closed); it can resume from
// the buffer with the last ID it saw.
func (l *Log) Emit(severity, kind, subject, message string, data map[string]any) Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := Event{ID: l.next, Time: time.Now().UTC(), Severity: severity, Kind: kind, Subject: subject, Message: message, Data: data}
	l.next++
	if len(l.buf) < cap(l.buf) {
		l.buf = append(l.buf, e)
	} else {
		l.buf[l.head] = e
		l.head = (l.head + 1) % len(l.buf)
	}
	for ch := range l.subs {
		select {
		case ch <- e:
		default:
			delete(l.subs, ch)
			close(ch)
		}
	}
	return e
}

// Query selects buffered events.
type Query struct {
	After       uint64 // only events with a larger ID
	Since       time.Time
	MinSeverity string // "" for all
	Limit       int    // the most recent Limit matches; 0 for all
}

// Find returns the buffered events matching q, oldest first.
func (l *Log) Find(q Query) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.find(q)
}

func (l *Log) find(q Query) []Event {
	var out []Event
	for i := range len(l.buf) {
		e := l.buf[(l.head+i)%len(l.buf)]
		if e.ID <= q.After || (!q.Since.IsZero() && e.Time.Before(q.Since)) ||
			severityRank[e.Severity] < severityRank[q.MinSeverity] {
			continue
		}
		out = append(out, e)
	}
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[len(out)-q.Limit:]
	}
	return out
}

// Subscribe returns the buffered events after `after` and a channel of
// events emitted from now on, atomically, so nothing is missed or seen
// twice. cancel releases the subscription; the channel is closed then, or
// earlier if the subscriber falls more than buffer events behind.
func (l *Log) Subscribe(after uint64, buffer int) (backlog []Event, ch <-chan Event, cancel func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := make(chan Event, max(buffer, 1))
	l.subs[c] = struct{}{}
	return l.find(Query{After: after}), c, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if _, ok := l.subs[c]; ok {
			delete(l.subs, c)
			close(c)
		}
	}
}

// ValidSeverity reports whether s is a known severity.
func ValidSeverity(s string) bool { _, ok := severityRank[s]; return ok }
