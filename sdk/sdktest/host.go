package sdktest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/argusmcp/argus/sdk"
	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// FakeHost is an sdk.Host with backends a test controls. The zero value
// has no backends. Safe for concurrent use.
type FakeHost struct {
	mu       sync.Mutex
	backends map[string]FakeBackend
}

// FakeBackend is one backend of a FakeHost.
type FakeBackend struct {
	Info  sdk.Backend
	Tools []sdk.Tool
	// PingErr is what Ping returns.
	PingErr error
	// Delay is how long every call about this backend takes (bounded by
	// the caller's context).
	Delay time.Duration
}

// Set adds or replaces a backend; Info.Name defaults to name.
func (f *FakeHost) Set(name string, b FakeBackend) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.backends == nil {
		f.backends = map[string]FakeBackend{}
	}
	if b.Info.Name == "" {
		b.Info.Name = name
	}
	f.backends[name] = b
}

func (f *FakeHost) get(ctx context.Context, name string) (FakeBackend, error) {
	f.mu.Lock()
	b, ok := f.backends[name]
	f.mu.Unlock()
	if !ok {
		return b, fmt.Errorf("%w %q", sdk.ErrUnknownBackend, name)
	}
	if b.Delay > 0 {
		select {
		case <-time.After(b.Delay):
		case <-ctx.Done():
			return b, ctx.Err()
		}
	}
	return b, nil
}

// Ping implements sdk.Host.
func (f *FakeHost) Ping(ctx context.Context, backend string) error {
	b, err := f.get(ctx, backend)
	if err != nil {
		return err
	}
	return b.PingErr
}

// ListTools implements sdk.Host.
func (f *FakeHost) ListTools(ctx context.Context, backend string) ([]sdk.Tool, error) {
	b, err := f.get(ctx, backend)
	return b.Tools, err
}

// Describe implements sdk.Host.
func (f *FakeHost) Describe(ctx context.Context, backend string) (sdk.Backend, error) {
	b, err := f.get(ctx, backend)
	return b.Info, err
}

// hostServer serves an sdk.Host as ProbeHostService.
type hostServer struct {
	pluginv1.UnimplementedProbeHostServiceServer
	h sdk.Host
}

func hostStatus(err error) error {
	switch {
	case errors.Is(err, sdk.ErrUnknownBackend):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Unavailable, err.Error())
}

func (s *hostServer) Ping(ctx context.Context, req *pluginv1.PingRequest) (*pluginv1.PingResponse, error) {
	if err := s.h.Ping(ctx, req.GetBackend()); err != nil {
		return nil, hostStatus(err)
	}
	return &pluginv1.PingResponse{}, nil
}

func (s *hostServer) ListTools(ctx context.Context, req *pluginv1.ListToolsRequest) (*pluginv1.ListToolsResponse, error) {
	tools, err := s.h.ListTools(ctx, req.GetBackend())
	if err != nil {
		return nil, hostStatus(err)
	}
	resp := &pluginv1.ListToolsResponse{}
	for _, t := range tools {
		resp.Tools = append(resp.Tools, &pluginv1.Tool{Name: t.Name, Description: t.Description})
	}
	return resp, nil
}

func (s *hostServer) Describe(ctx context.Context, req *pluginv1.DescribeRequest) (*pluginv1.DescribeResponse, error) {
	b, err := s.h.Describe(ctx, req.GetBackend())
	if err != nil {
		return nil, hostStatus(err)
	}
	return &pluginv1.DescribeResponse{Name: b.Name, Transport: b.Transport, Target: b.Target,
		ProtocolVersion: b.ProtocolVersion, Connected: b.Connected}, nil
}
