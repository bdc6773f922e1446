package pluginhost

import (
	"context"
	"fmt"

	"google.golang.org/grpc"

	"github.com/argusmcp/argus/shared"
	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// shutdown asks a plugin to release its instance (sinks flush).
func shutdown(ctx context.Context, pc *process) error {
	_, err := pluginv1.NewPluginServiceClient(pc.Conn.GRPC).Shutdown(ctx, &pluginv1.ShutdownRequest{})
	return err
}

// Generation is one process of an instance: the gRPC connection its
// kind's service is called over. A client built on a generation talks to
// that process only; once Done is closed the process is gone and the
// caller builds a new client on the next generation (for sinks: and
// replays what was not acknowledged). The kinds' clients live in the
// subpackages sink, exporter and probe.
type Generation struct {
	n  uint64
	pc *process
}

// Number counts the instance's configured processes, from 1.
func (g Generation) Number() uint64 { return g.n }

// Done is closed when the generation's process has exited.
func (g Generation) Done() <-chan struct{} { return g.pc.Exited() }

// GRPC is the process's connection. It belongs to the runtime, which
// closes it: callers must not. Calls without a deadline get
// Options.CallTimeout.
func (g Generation) GRPC() *grpc.ClientConn { return g.pc.Conn.GRPC }

// Conn waits (within ctx) until the instance runs and returns its current
// generation. It fails with ErrWrongKind if the instance is not of kind
// want, and with ErrStopped once the instance is stopped.
func (i *Instance) Conn(ctx context.Context, want pluginv1.Kind) (Generation, error) {
	if i.spec.Kind != want {
		return Generation{}, fmt.Errorf("%s: %w (%s)", i.spec.ID(), ErrWrongKind, shared.KindName(i.spec.Kind))
	}
	pc, n, err := i.conn(ctx)
	if err != nil {
		return Generation{}, fmt.Errorf("%s: %w", i.spec.ID(), err)
	}
	return Generation{n: n, pc: pc}, nil
}

// OfKind lists the runtime's instances of kind k, in configuration order.
func (r *Runtime) OfKind(k pluginv1.Kind) []*Instance {
	var out []*Instance
	for _, inst := range r.Instances() {
		if inst.Spec().Kind == k {
			out = append(out, inst)
		}
	}
	return out
}
