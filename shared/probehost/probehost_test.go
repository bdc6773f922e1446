package probehost

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// fails answers every call with err.
type fails struct{ err error }

func (f fails) Ping(context.Context, string) error { return f.err }
func (f fails) ListTools(context.Context, string) ([]Tool, error) {
	return []Tool{{Name: "echo", Description: "Echoes."}}, f.err
}
func (f fails) Describe(_ context.Context, name string) (Backend, error) {
	return Backend{Name: name, Transport: "stdio", Target: "demo", ProtocolVersion: "2025-11-25", Connected: true}, f.err
}

func TestErrorsBecomeStatuses(t *testing.T) {
	ctx := context.Background()
	for err, want := range map[error]codes.Code{
		fmt.Errorf("%w %q", ErrUnknownBackend, "x"): codes.NotFound,
		context.DeadlineExceeded:                    codes.DeadlineExceeded,
		fmt.Errorf("ping: %w", context.Canceled):    codes.Canceled,
		errors.New("connection closed"):             codes.Unavailable,
	} {
		s := &server{b: fails{err}}
		_, perr := s.Ping(ctx, &pluginv1.PingRequest{Backend: "x"})
		_, lerr := s.ListTools(ctx, &pluginv1.ListToolsRequest{Backend: "x"})
		_, derr := s.Describe(ctx, &pluginv1.DescribeRequest{Backend: "x"})
		for _, got := range []error{perr, lerr, derr} {
			if status.Code(got) != want || status.Convert(got).Message() != err.Error() {
				t.Errorf("%v: got %v, want %v with the error's message", err, got, want)
			}
		}
	}
}

func TestAnswers(t *testing.T) {
	ctx := context.Background()
	s := &server{b: fails{}}
	if _, err := s.Ping(ctx, &pluginv1.PingRequest{Backend: "demo"}); err != nil {
		t.Errorf("Ping: %v", err)
	}
	tools, err := s.ListTools(ctx, &pluginv1.ListToolsRequest{Backend: "demo"})
	if err != nil || len(tools.GetTools()) != 1 || tools.GetTools()[0].GetName() != "echo" || tools.GetTools()[0].GetDescription() != "Echoes." {
		t.Errorf("ListTools = %v, %v", tools, err)
	}
	d, err := s.Describe(ctx, &pluginv1.DescribeRequest{Backend: "demo"})
	if err != nil || d.GetName() != "demo" || d.GetTransport() != "stdio" || d.GetTarget() != "demo" ||
		d.GetProtocolVersion() != "2025-11-25" || !d.GetConnected() {
		t.Errorf("Describe = %v, %v", d, err)
	}
}
