package transport

import (
	"net"
	"net/http"
	"sync"
)

// ConnTracker follows the state of a server's connections (set Track as
// the http.Server's ConnState), so that shutdown can close the ones no
// request will come on. Safe for concurrent use.
type ConnTracker struct {
	mu     sync.Mutex
	states map[net.Conn]http.ConnState
}

// Track records that c entered state s.
func (t *ConnTracker) Track(c net.Conn, s http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s == http.StateClosed || s == http.StateHijacked {
		delete(t.states, c)
		return
	}
	if t.states == nil {
		t.states = map[net.Conn]http.ConnState{}
	}
	t.states[c] = s
}

// CloseUnused closes connections that are new (no request yet) or idle:
// http.Server.Shutdown would wait for new ones up to 5 seconds.
func (t *ConnTracker) CloseUnused() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c, s := range t.states {
		if s == http.StateNew || s == http.StateIdle {
			c.Close()
		}
	}
}
