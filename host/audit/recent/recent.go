// Package recent keeps the most recent audit events in memory (Ring) for
// the management API and the console.
package recent

import "sync"

// DefaultSize is the number of recent events a Ring keeps when its
// size is not configured (management.audit_buffer).
const DefaultSize = 1000

// Ring keeps the most recent audit events in memory, exactly as the
// sinks receive them (redacted JSON), for the management API's
// GET /manage/v1/audit and its live tail. It is bounded: the oldest event
// makes room for the newest. Add never blocks (a subscriber that cannot
// keep up loses its subscription, see Subscribe). Safe for concurrent
// use; the zero value and nil keep nothing.
type Ring struct {
	mu   sync.Mutex
	buf  [][]byte // ring; buf[next] is the oldest once full
	next int
	full bool
	subs map[chan []byte]struct{}
}

// New keeps the last size events; size <= 0 keeps none (the API
// then answers with an empty list).
func New(size int) *Ring {
	if size <= 0 {
		return nil
	}
	return &Ring{buf: make([][]byte, size), subs: map[chan []byte]struct{}{}}
}

// Cap is the number of events r keeps.
func (r *Ring) Cap() int {
	if r == nil {
		return 0
	}
	return len(r.buf)
}

// Add stores one event's JSON (which r then owns: callers do not modify
// it) and hands it to every subscriber that has room.
func (r *Ring) Add(event []byte) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf[r.next] = event
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
	for ch := range r.subs {
		select {
		case ch <- event:
		default:
			// Fell behind: end its subscription rather than wait; the
			// client re-subscribes and reads the gap from Newest.
			delete(r.subs, ch)
			close(ch)
		}
	}
}

// Newest returns up to n stored events, newest first, that keep accepts
// (nil keep accepts all). n <= 0 means no limit.
func (r *Ring) Newest(n int, keep func([]byte) bool) [][]byte {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	count := r.next
	if r.full {
		count = len(r.buf)
	}
	snap := make([][]byte, 0, count)
	for i := 1; i <= count; i++ {
		snap = append(snap, r.buf[(r.next-i+len(r.buf))%len(r.buf)])
	}
	r.mu.Unlock()
	out := snap[:0]
	for _, e := range snap {
		if n > 0 && len(out) == n {
			break
		}
		if keep == nil || keep(e) {
			out = append(out, e)
		}
	}
	return out
}

// Subscribe delivers every event added from now on to the returned
// channel, which holds up to buffer events. The channel is closed when the
// subscriber falls that far behind, or by cancel (safe to call more than
// once).
func (r *Ring) Subscribe(buffer int) (<-chan []byte, func()) {
	ch := make(chan []byte, max(1, buffer))
	if r == nil {
		return ch, func() {}
	}
	r.mu.Lock()
	r.subs[ch] = struct{}{}
	r.mu.Unlock()
	return ch, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if _, ok := r.subs[ch]; ok {
			delete(r.subs, ch)
			close(ch)
		}
	}
}
