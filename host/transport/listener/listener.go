// Package listener is the gateway's client-facing listener: the
// http.Server with its limits (NewServer) and connection cap
// (LimitListener), the paths it serves (Routes: /mcp, the management API,
// the console, /metrics, the RFC 9728 metadata), and its lifecycle (Run):
// serving until the shutdown signal, the drain that takes it out of
// rotation (Drain), and the graceful shutdown (HTTPServer.Shutdown).
// Package transport provides the MCP handler it serves at /mcp.
package listener

import (
	"context"
	"log"
	"net"
	"net/http"
	"sync"

	"github.com/argusmcp/argus/host/config"
)

// HTTPServer serves the client-facing listener (NewServer's limits,
// LimitListener's connection cap) and shuts it down without waiting for
// connections no request will come on.
type HTTPServer struct {
	srv *http.Server

	mu     sync.Mutex
	states map[net.Conn]http.ConnState
}

// Serve serves h on ln with the limits of s until Shutdown; the channel
// receives the error that ended serving otherwise.
func Serve(ln net.Listener, h http.Handler, s config.Server, errorLog *log.Logger) (*HTTPServer, <-chan error) {
	hs := &HTTPServer{srv: NewServer(h, s, errorLog), states: map[net.Conn]http.ConnState{}}
	hs.srv.ConnState = hs.track
	errc := make(chan error, 1)
	go func() { errc <- hs.srv.Serve(LimitListener(ln, s.MaxConnections)) }()
	return hs, errc
}

func (hs *HTTPServer) track(c net.Conn, s http.ConnState) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if s == http.StateClosed || s == http.StateHijacked {
		delete(hs.states, c)
		return
	}
	hs.states[c] = s
}

// Shutdown stops serving: connections that are new (no request yet) or
// idle close at once (http.Server.Shutdown would wait up to 5 seconds for
// the new ones), in-flight requests get until ctx ends, and are cut then.
// End streaming sessions first, or it waits for them.
func (hs *HTTPServer) Shutdown(ctx context.Context) error {
	hs.mu.Lock()
	for c, s := range hs.states {
		if s == http.StateNew || s == http.StateIdle {
			c.Close()
		}
	}
	hs.mu.Unlock()
	if err := hs.srv.Shutdown(ctx); err != nil {
		return hs.srv.Close()
	}
	return nil
}
