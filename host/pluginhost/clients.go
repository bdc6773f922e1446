package pluginhost

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"

	"github.com/argusmcp/argus/shared"
	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// shutdown asks a plugin to release its instance (sinks flush).
func shutdown(ctx context.Context, proc *process) error {
	_, err := pluginv1.NewPluginServiceClient(proc.conn.GRPC).Shutdown(ctx, &pluginv1.ShutdownRequest{})
	return err
}

// Generation identifies one process of an instance. A client obtained from
// an instance talks to one generation; once Done is closed that process is
// gone and the caller gets a new client (for sinks: and replays what was
// not acknowledged).
type Generation struct {
	n    uint64
	proc *process
}

// Number counts the instance's configured processes, from 1.
func (g Generation) Number() uint64 { return g.n }

// Done is closed when the generation's process has exited.
func (g Generation) Done() <-chan struct{} { return g.proc.exited() }

func (i *Instance) generation(ctx context.Context, want pluginv1.Kind) (Generation, error) {
	if i.spec.Kind != want {
		return Generation{}, fmt.Errorf("%s: %w (%s)", i.spec.ID(), ErrWrongKind, shared.KindName(i.spec.Kind))
	}
	proc, n, err := i.conn(ctx)
	if err != nil {
		return Generation{}, fmt.Errorf("%s: %w", i.spec.ID(), err)
	}
	return Generation{n: n, proc: proc}, nil
}

// SinkClient calls one generation of an audit sink. Calls without a
// deadline get Options.CallTimeout.
type SinkClient struct {
	Generation
	c pluginv1.AuditSinkServiceClient
}

// Sink waits (within ctx) until the audit sink instance runs and returns a
// client for its current process.
func (i *Instance) Sink(ctx context.Context) (*SinkClient, error) {
	g, err := i.generation(ctx, shared.KindAuditSink)
	if err != nil {
		return nil, err
	}
	return &SinkClient{Generation: g, c: pluginv1.NewAuditSinkServiceClient(g.proc.conn.GRPC)}, nil
}

// Write sends one batch of events of stream (in increasing seq order) and
// returns the acknowledged sequence number: every event up to it is
// durable.
func (c *SinkClient) Write(ctx context.Context, stream string, events []*pluginv1.AuditEvent) (uint64, error) {
	resp, err := c.c.Write(ctx, &pluginv1.WriteRequest{Stream: stream, Events: events})
	if err != nil {
		return 0, callError(err)
	}
	return resp.GetAckedSeq(), nil
}

// Flush makes everything written durable and returns the acknowledgement.
func (c *SinkClient) Flush(ctx context.Context) (uint64, error) {
	resp, err := c.c.Flush(ctx, &pluginv1.FlushRequest{})
	if err != nil {
		return 0, callError(err)
	}
	return resp.GetAckedSeq(), nil
}

// Close flushes and closes the sink; no Write may follow.
func (c *SinkClient) Close(ctx context.Context) (uint64, error) {
	resp, err := c.c.Close(ctx, &pluginv1.CloseRequest{})
	if err != nil {
		return 0, callError(err)
	}
	return resp.GetAckedSeq(), nil
}

// Health statuses a probe reports, as the management API spells them.
const (
	Healthy   = "healthy"
	Degraded  = "degraded"
	Unhealthy = "unhealthy"
)

// CheckResult is the outcome of one health check.
type CheckResult struct {
	Status  string // Healthy, Degraded or Unhealthy
	Message string
	Latency time.Duration
}

// ProbeClient calls one generation of a health probe.
type ProbeClient struct {
	Generation
	c pluginv1.HealthProbeServiceClient
}

// Probe waits (within ctx) until the health probe instance runs and
// returns a client for its current process.
func (i *Instance) Probe(ctx context.Context) (*ProbeClient, error) {
	g, err := i.generation(ctx, shared.KindHealthProbe)
	if err != nil {
		return nil, err
	}
	return &ProbeClient{Generation: g, c: pluginv1.NewHealthProbeServiceClient(g.proc.conn.GRPC)}, nil
}

// Check checks one backend. An error means the probe failed, not the
// backend.
func (c *ProbeClient) Check(ctx context.Context, backend string) (CheckResult, error) {
	resp, err := c.c.Check(ctx, &pluginv1.CheckRequest{Backend: backend})
	if err != nil {
		return CheckResult{}, callError(err)
	}
	res := CheckResult{Message: resp.GetMessage(), Latency: resp.GetLatency().AsDuration()}
	switch resp.GetStatus() {
	case pluginv1.HealthStatus_HEALTH_STATUS_HEALTHY:
		res.Status = Healthy
	case pluginv1.HealthStatus_HEALTH_STATUS_DEGRADED:
		res.Status = Degraded
	case pluginv1.HealthStatus_HEALTH_STATUS_UNHEALTHY:
		res.Status = Unhealthy
	default:
		return CheckResult{}, fmt.Errorf("malformed reply: health status %v", resp.GetStatus())
	}
	return res, nil
}

// ExporterConn is one generation of a telemetry exporter: the plugin
// connection serving the OTLP TraceService and MetricsService. Hand GRPC
// to otlptracegrpc.WithGRPCConn / otlpmetricgrpc.WithGRPCConn (the
// exporter must not close it; the runtime does) and make a new exporter
// when Done is closed.
type ExporterConn struct {
	Generation
	GRPC *grpc.ClientConn
}

// Exporter waits (within ctx) until the telemetry exporter instance runs
// and returns its current connection.
func (i *Instance) Exporter(ctx context.Context) (*ExporterConn, error) {
	g, err := i.generation(ctx, shared.KindTelemetryExporter)
	if err != nil {
		return nil, err
	}
	return &ExporterConn{Generation: g, GRPC: g.proc.conn.GRPC}, nil
}
