package probe

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"google.golang.org/grpc"

	"github.com/argusmcp/argus/host/backend"
	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/shared"
	"github.com/argusmcp/argus/shared/probehost"
	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// Lookup finds a live backend by name: its session (nil while it is not
// connected) and its configuration; false for a backend that is not
// configured. The gateway implements it.
type Lookup interface {
	BackendConn(name string) (*backend.Conn, config.Backend, bool)
}

// Backends is what health probes may ask of the gateway's backends, by
// name. The plugin runtime starts before the gateway exists, so the
// gateway is bound (Bind) once it does; until then every backend is
// unknown. Safe for concurrent use.
type Backends struct {
	lookup atomic.Pointer[Lookup]
}

// Bind makes l the backends' source.
func (b *Backends) Bind(l Lookup) { b.lookup.Store(&l) }

// HostService registers b as the ProbeHostService for
// pluginhost.Options.HostServices.
func HostService(b probehost.Backends) func(*grpc.Server) {
	return func(s *grpc.Server) { probehost.Register(s, b) }
}

// ErrNotConnected is a backend that is configured but has no session now.
var ErrNotConnected = errors.New("backend is not connected")

func (b *Backends) get(name string) (*backend.Conn, config.Backend, error) {
	l := b.lookup.Load()
	if l == nil {
		return nil, config.Backend{}, fmt.Errorf("%w %q: the gateway is not running yet", probehost.ErrUnknownBackend, name)
	}
	conn, cfg, ok := (*l).BackendConn(name)
	if !ok {
		return nil, cfg, fmt.Errorf("%w %q", probehost.ErrUnknownBackend, name)
	}
	return conn, cfg, nil
}

func (b *Backends) live(name string) (*backend.Conn, error) {
	conn, _, err := b.get(name)
	if err == nil && conn == nil {
		err = fmt.Errorf("%q: %w", name, ErrNotConnected)
	}
	return conn, err
}

// Ping implements probehost.Backends: the cheapest request the backend's
// revision answers.
func (b *Backends) Ping(ctx context.Context, name string) error {
	conn, err := b.live(name)
	if err != nil {
		return err
	}
	return conn.Ping(ctx)
}

// ListTools implements probehost.Backends.
func (b *Backends) ListTools(ctx context.Context, name string) ([]probehost.Tool, error) {
	conn, err := b.live(name)
	if err != nil {
		return nil, err
	}
	res, err := conn.Session().ListTools(ctx, &mcp.ListToolsParams{})
	if err != nil {
		return nil, err
	}
	tools := make([]probehost.Tool, 0, len(res.Tools))
	for _, t := range res.Tools {
		tools = append(tools, probehost.Tool{Name: t.Name, Description: t.Description})
	}
	return tools, nil
}

// Describe implements probehost.Backends.
func (b *Backends) Describe(_ context.Context, name string) (probehost.Backend, error) {
	conn, cfg, err := b.get(name)
	if err != nil {
		return probehost.Backend{}, err
	}
	info := probehost.Backend{Name: name, Transport: cfg.Type, Target: cfg.URL}
	if cfg.Type == config.TypeStdio {
		info.Target = cfg.Command
	}
	if conn != nil {
		select {
		case <-conn.Done():
		default:
			info.Connected, info.ProtocolVersion = true, conn.ProtocolVersion()
		}
	}
	return info, nil
}

// HostServices are the host services of pluginhost.Options: b, as the
// ProbeHostService of every health probe instance.
func HostServices(b probehost.Backends) map[pluginv1.Kind]func(*grpc.Server) {
	return map[pluginv1.Kind]func(*grpc.Server){shared.KindHealthProbe: HostService(b)}
}
