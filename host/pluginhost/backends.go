package pluginhost

import (
	"context"
	"errors"

	"github.com/argusmcp/argus/shared/probehost"
)

// Backends is what health probes may ask of the gateway's backends, served
// to them as ProbeHostService over the go-plugin broker. The gateway
// implements it; methods are called concurrently and must honour ctx.
type Backends interface {
	// Ping sends the backend the cheapest request its revision answers.
	Ping(ctx context.Context, backend string) error
	// ListTools lists the backend's tools as the backend reports them.
	ListTools(ctx context.Context, backend string) ([]ToolInfo, error)
	// Describe tells how the backend is reached.
	Describe(backend string) (BackendInfo, error)
}

// ErrUnknownBackend is what Backends methods return (wrapped or not) for a
// backend that does not exist; probes see it as such.
var ErrUnknownBackend = probehost.ErrUnknownBackend

// ToolInfo is one tool of a backend.
type ToolInfo = probehost.Tool

// BackendInfo describes one backend to a probe.
type BackendInfo = probehost.Backend

// noBackends is the Backends of a runtime given none.
type noBackends struct{}

var errNoBackends = errors.New("this Argus process offers no backends to plugins")

func (noBackends) Ping(context.Context, string) error                    { return errNoBackends }
func (noBackends) ListTools(context.Context, string) ([]ToolInfo, error) { return nil, errNoBackends }
func (noBackends) Describe(string) (BackendInfo, error)                  { return BackendInfo{}, errNoBackends }

// probeHost is Backends as the shared ProbeHostService server takes it.
type probeHost struct{ Backends }

func (h probeHost) Describe(_ context.Context, backend string) (BackendInfo, error) {
	return h.Backends.Describe(backend)
}
