// Package probehost serves ProbeHostService, through which health probe
// plugins reach the host's backends over the go-plugin broker. Argus
// serves it over the gateway's backends (host/pluginhost/probe), and the SDK's
// test harness over a fake (sdk/sdktest); both register it here, so a
// probe sees the same errors and messages from either. The probe's side,
// NewClient, is here too, so both ends of the service map errors alike.
package probehost

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// Backends is what a probe may ask of the host's backends. Methods are
// called concurrently and must honour ctx.
type Backends interface {
	// Ping sends the backend the cheapest request its revision answers.
	Ping(ctx context.Context, backend string) error
	// ListTools lists the backend's tools as the backend reports them.
	ListTools(ctx context.Context, backend string) ([]Tool, error)
	// Describe tells how the backend is reached.
	Describe(ctx context.Context, backend string) (Backend, error)
}

// ErrUnknownBackend is what Backends methods return (wrapped or not) for
// a backend that does not exist; the probe receives it as NotFound.
var ErrUnknownBackend = errors.New("unknown backend")

// Tool is one tool of a backend.
type Tool struct {
	Name        string
	Description string
}

// Backend describes one backend to a probe.
type Backend struct {
	Name string
	// Transport is "stdio", "streamable-http" or "sse".
	Transport string
	// Target is the URL of HTTP backends, the command of stdio backends.
	Target string
	// ProtocolVersion is the negotiated MCP revision; empty while not
	// connected.
	ProtocolVersion string
	Connected       bool
}

// Register serves b as ProbeHostService on s.
func Register(s *grpc.Server, b Backends) {
	pluginv1.RegisterProbeHostServiceServer(s, &server{b: b})
}

type server struct {
	pluginv1.UnimplementedProbeHostServiceServer
	b Backends
}

// statusOf maps a Backends error to the gRPC status the probe receives.
func statusOf(err error) error {
	switch {
	case errors.Is(err, ErrUnknownBackend):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	}
	return status.Error(codes.Unavailable, err.Error())
}

func (s *server) Ping(ctx context.Context, req *pluginv1.PingRequest) (*pluginv1.PingResponse, error) {
	if err := s.b.Ping(ctx, req.GetBackend()); err != nil {
		return nil, statusOf(err)
	}
	return &pluginv1.PingResponse{}, nil
}

func (s *server) ListTools(ctx context.Context, req *pluginv1.ListToolsRequest) (*pluginv1.ListToolsResponse, error) {
	tools, err := s.b.ListTools(ctx, req.GetBackend())
	if err != nil {
		return nil, statusOf(err)
	}
	resp := &pluginv1.ListToolsResponse{Tools: make([]*pluginv1.Tool, 0, len(tools))}
	for _, t := range tools {
		resp.Tools = append(resp.Tools, &pluginv1.Tool{Name: t.Name, Description: t.Description})
	}
	return resp, nil
}

func (s *server) Describe(ctx context.Context, req *pluginv1.DescribeRequest) (*pluginv1.DescribeResponse, error) {
	b, err := s.b.Describe(ctx, req.GetBackend())
	if err != nil {
		return nil, statusOf(err)
	}
	return &pluginv1.DescribeResponse{Name: b.Name, Transport: b.Transport, Target: b.Target,
		ProtocolVersion: b.ProtocolVersion, Connected: b.Connected}, nil
}

// NewClient is Backends over the ProbeHostService served on cc: the
// probe's side of Register. A backend the host does not have fails with
// an error wrapping ErrUnknownBackend; any other failure carries the
// host's message.
func NewClient(cc grpc.ClientConnInterface) Backends {
	return client{pluginv1.NewProbeHostServiceClient(cc)}
}

type client struct {
	c pluginv1.ProbeHostServiceClient
}

// errorOf is the inverse of statusOf, as far as a probe needs it.
func errorOf(err error) error {
	if status.Code(err) == codes.NotFound {
		return fmt.Errorf("%w: %s", ErrUnknownBackend, status.Convert(err).Message())
	}
	if st, ok := status.FromError(err); ok && err != nil {
		return errors.New(st.Message())
	}
	return err
}

func (h client) Ping(ctx context.Context, backend string) error {
	_, err := h.c.Ping(ctx, &pluginv1.PingRequest{Backend: backend})
	return errorOf(err)
}

func (h client) ListTools(ctx context.Context, backend string) ([]Tool, error) {
	resp, err := h.c.ListTools(ctx, &pluginv1.ListToolsRequest{Backend: backend})
	if err != nil {
		return nil, errorOf(err)
	}
	tools := make([]Tool, 0, len(resp.GetTools()))
	for _, t := range resp.GetTools() {
		tools = append(tools, Tool{Name: t.GetName(), Description: t.GetDescription()})
	}
	return tools, nil
}

func (h client) Describe(ctx context.Context, backend string) (Backend, error) {
	resp, err := h.c.Describe(ctx, &pluginv1.DescribeRequest{Backend: backend})
	if err != nil {
		return Backend{}, errorOf(err)
	}
	return Backend{Name: resp.GetName(), Transport: resp.GetTransport(), Target: resp.GetTarget(),
		ProtocolVersion: resp.GetProtocolVersion(), Connected: resp.GetConnected()}, nil
}
