package sdk

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/argusmcp/argus/shared/healthstatus"
	"github.com/argusmcp/argus/shared/probehost"
	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// Status is a backend's health as a probe sees it. It is the one health
// vocabulary of Argus, shared with the host: what a probe reports is what
// the management API shows.
type Status = healthstatus.Status

// Health statuses a probe reports. Any other value (the zero value
// included) is reported as Unhealthy.
const (
	Healthy   = healthstatus.Healthy
	Degraded  = healthstatus.Degraded
	Unhealthy = healthstatus.Unhealthy
)

// Result is the outcome of one check.
type Result struct {
	Status  Status
	Message string
	// Latency is what the check measured; zero means the SDK reports how
	// long Check took.
	Latency time.Duration
}

// Probe is a health probe. Check checks one backend within ctx's deadline;
// an error means the backend is unhealthy, with the error as the message.
// Calls may be concurrent.
//
// Optional: Closer.
type Probe interface {
	Check(ctx context.Context, backend string) (Result, error)
}

// Host is how a probe reaches backends: through Argus, which owns the
// connections.
type Host interface {
	// Ping sends the backend the cheapest request its protocol revision
	// answers (ping, or a list call on revisions without ping).
	Ping(ctx context.Context, backend string) error
	// ListTools lists the backend's tools as it reports them.
	ListTools(ctx context.Context, backend string) ([]Tool, error)
	// Describe tells how the backend is reached.
	Describe(ctx context.Context, backend string) (Backend, error)
}

// ErrUnknownBackend is returned by Host methods for a backend Argus does
// not have.
var ErrUnknownBackend = probehost.ErrUnknownBackend

// ErrNoHost is returned by Host methods when the host offered no host
// service (as in a dry run).
var ErrNoHost = errors.New("no host service")

// Tool is one tool of a backend.
type Tool struct {
	Name        string
	Description string
}

// Backend describes one backend.
type Backend struct {
	Name string
	// Transport is "stdio", "streamable-http" or "sse".
	Transport string
	// Target is the URL of HTTP backends, the command of stdio backends.
	Target string
	// ProtocolVersion is the MCP revision negotiated; empty while the
	// backend is not connected.
	ProtocolVersion string
	Connected       bool
}

// ProbeFactory makes a plugin a health probe.
type ProbeFactory struct {
	// Schema of the probe's configuration block. Nil: no attributes.
	Schema *Schema
	// Validate checks a configuration without side effects. Optional.
	Validate func(cfg Config) error
	// New builds the probe. host stays usable for the probe's lifetime;
	// ctx bounds New itself.
	//
	// If New fails, it returns an error and releases what it acquired;
	// if it returns the partly built instance along with the error, the
	// SDK calls its Close (Closer or io.Closer) and discards it, so New
	// can defer nothing and simply return what it has. See Config for
	// what happens when New reads the configuration wrongly.
	New func(ctx context.Context, cfg Config, host Host) (Probe, error)
}

// HealthProbe makes the plugin a health probe (blocks `probe "<name>" "<instance>"`).
func HealthProbe(f ProbeFactory) Option {
	return func(p *Plugin) {
		mustOnce(p, p.probe != nil, "HealthProbe")
		mustSchema(p, f.Schema, "HealthProbe")
		p.probe = &f
	}
}

type probeService struct {
	pluginv1.UnimplementedHealthProbeServiceServer
	srv *server
}

func (s *probeService) Check(ctx context.Context, req *pluginv1.CheckRequest) (*pluginv1.CheckResponse, error) {
	inst, err := s.srv.instance()
	if err != nil {
		return nil, err
	}
	probe, ok := inst.(Probe)
	if !ok {
		return nil, status.Error(codes.FailedPrecondition, "the plugin is not configured as a health probe")
	}
	start := time.Now()
	res, err := probe.Check(ctx, req.GetBackend())
	if err != nil {
		res = Result{Status: Unhealthy, Message: err.Error(), Latency: res.Latency}
	}
	if res.Latency == 0 {
		res.Latency = time.Since(start)
	}
	st := pluginv1.HealthStatus_HEALTH_STATUS_UNHEALTHY
	switch res.Status {
	case Healthy:
		st = pluginv1.HealthStatus_HEALTH_STATUS_HEALTHY
	case Degraded:
		st = pluginv1.HealthStatus_HEALTH_STATUS_DEGRADED
	}
	return &pluginv1.CheckResponse{Status: st, Message: res.Message, Latency: durationpb.New(res.Latency)}, nil
}

// hostClient is Host over the ProbeHostService the host serves on the
// broker (probehost.NewClient).
type hostClient struct{ b probehost.Backends }

func newHostClient(cc grpc.ClientConnInterface) hostClient {
	return hostClient{probehost.NewClient(cc)}
}

func (h hostClient) Ping(ctx context.Context, backend string) error { return h.b.Ping(ctx, backend) }

func (h hostClient) ListTools(ctx context.Context, backend string) ([]Tool, error) {
	tools, err := h.b.ListTools(ctx, backend)
	if err != nil {
		return nil, err
	}
	out := make([]Tool, 0, len(tools))
	for _, t := range tools {
		out = append(out, Tool(t))
	}
	return out, nil
}

func (h hostClient) Describe(ctx context.Context, backend string) (Backend, error) {
	b, err := h.b.Describe(ctx, backend)
	return Backend(b), err
}

// noHost is the Host of a probe configured without a host service.
type noHost struct{}

func (noHost) Ping(context.Context, string) error                { return ErrNoHost }
func (noHost) ListTools(context.Context, string) ([]Tool, error) { return nil, ErrNoHost }
func (noHost) Describe(context.Context, string) (Backend, error) { return Backend{}, ErrNoHost }
