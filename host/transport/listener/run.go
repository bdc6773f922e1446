package listener

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"github.com/hashicorp/go-hclog"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/shutdown"
)

// RunOptions are what Run needs besides the listener and its handler.
type RunOptions struct {
	// Server holds the listener's limits and drain_timeout.
	Server config.Server
	// Drain takes the listener out of rotation before the shutdown; its
	// Handler wraps the handler. Required.
	Drain *Drain
	// Startup receives the start-up verdict once (startup.Watch): an
	// error ends serving, and Run returns it. Nil: no verdict to wait for.
	Startup <-chan error
	// MCP is the server whose sessions are closed before the shutdown:
	// streaming responses keep connections open, and the shutdown would
	// wait for them.
	MCP *mcp.Server
	// Plan bounds the listener's shutdown (step shutdown.Listener).
	Plan *shutdown.Plan
	// Logger logs the drain and the shutdown; the HTTP server's own
	// errors go to its "http" sub-logger.
	Logger hclog.Logger
}

// Run serves h on ln until ctx is done, then drains (Drain.Run), closes
// the MCP sessions and shuts the listener down within the plan's bound.
// It returns early with the error that ended serving, or with the
// start-up verdict if that is an error.
func Run(ctx context.Context, ln net.Listener, h http.Handler, o RunOptions) error {
	srv, errc := Serve(ln, o.Drain.Handler(h), o.Server, o.Logger.Named("http").StandardLogger(nil))
	for startup := o.Startup; ctx.Err() == nil; {
		select {
		case err := <-errc:
			return fmt.Errorf("http server: %w", err)
		case err := <-startup:
			if err != nil {
				return err
			}
			startup = nil
		case <-ctx.Done():
		}
	}
	// Out of rotation first, then the shutdown proper (whose own bounds
	// start only now).
	if err := o.Drain.Run(o.Server.DrainTimeout, errc, o.Logger); err != nil {
		return fmt.Errorf("http server: %w", err)
	}
	o.Logger.Info("shutting down")
	for ss := range o.MCP.Sessions() {
		ss.Close()
	}
	o.Plan.Run(shutdown.Listener, srv.Shutdown, nil)
	return nil
}
