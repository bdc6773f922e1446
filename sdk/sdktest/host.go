package sdktest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/argusmcp/argus/sdk"
	"github.com/argusmcp/argus/shared/probehost"
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

// hostBackends is an sdk.Host as the shared ProbeHostService server
// takes it.
type hostBackends struct{ h sdk.Host }

func (b hostBackends) Ping(ctx context.Context, backend string) error { return b.h.Ping(ctx, backend) }

func (b hostBackends) ListTools(ctx context.Context, backend string) ([]probehost.Tool, error) {
	tools, err := b.h.ListTools(ctx, backend)
	out := make([]probehost.Tool, len(tools))
	for i, t := range tools {
		out[i] = probehost.Tool(t)
	}
	return out, err
}

func (b hostBackends) Describe(ctx context.Context, backend string) (probehost.Backend, error) {
	d, err := b.h.Describe(ctx, backend)
	return probehost.Backend(d), err
}
