package pluginhost

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
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
var ErrUnknownBackend = errors.New("unknown backend")

// ToolInfo is one tool of a backend.
type ToolInfo struct {
	Name        string
	Description string
}

// BackendInfo describes one backend to a probe.
type BackendInfo struct {
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

// noBackends is the Backends of a runtime given none.
type noBackends struct{}

var errNoBackends = errors.New("this Argus process offers no backends to plugins")

func (noBackends) Ping(context.Context, string) error                    { return errNoBackends }
func (noBackends) ListTools(context.Context, string) ([]ToolInfo, error) { return nil, errNoBackends }
func (noBackends) Describe(string) (BackendInfo, error)                  { return BackendInfo{}, errNoBackends }

// probeHost serves Backends as ProbeHostService.
type probeHost struct {
	pluginv1.UnimplementedProbeHostServiceServer
	b Backends
}

func backendStatus(err error) error {
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

func (s *probeHost) Ping(ctx context.Context, req *pluginv1.PingRequest) (*pluginv1.PingResponse, error) {
	if err := s.b.Ping(ctx, req.GetBackend()); err != nil {
		return nil, backendStatus(err)
	}
	return &pluginv1.PingResponse{}, nil
}

func (s *probeHost) ListTools(ctx context.Context, req *pluginv1.ListToolsRequest) (*pluginv1.ListToolsResponse, error) {
	tools, err := s.b.ListTools(ctx, req.GetBackend())
	if err != nil {
		return nil, backendStatus(err)
	}
	resp := &pluginv1.ListToolsResponse{Tools: make([]*pluginv1.Tool, 0, len(tools))}
	for _, t := range tools {
		resp.Tools = append(resp.Tools, &pluginv1.Tool{Name: t.Name, Description: t.Description})
	}
	return resp, nil
}

func (s *probeHost) Describe(_ context.Context, req *pluginv1.DescribeRequest) (*pluginv1.DescribeResponse, error) {
	b, err := s.b.Describe(req.GetBackend())
	if err != nil {
		return nil, backendStatus(err)
	}
	return &pluginv1.DescribeResponse{Name: b.Name, Transport: b.Transport, Target: b.Target,
		ProtocolVersion: b.ProtocolVersion, Connected: b.Connected}, nil
}
