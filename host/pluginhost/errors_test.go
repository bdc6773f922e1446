package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/argusmcp/argus/host/pluginhost/discovery"
	"github.com/argusmcp/argus/host/pluginhost/proc"
)

// TestErrorsKeepTheirCause: the readable errors of a failed plugin call
// or start still tell a caller that branches what happened: the call's
// gRPC status (status.Code) and a context's end (errors.Is), however many
// layers of context they are wrapped in.
func TestErrorsKeepTheirCause(t *testing.T) {
	p := discovery.Plugin{Name: "slow", Path: "/plugins/argus-plugin-slow"}
	for _, c := range []struct {
		code codes.Code
		text string
	}{
		{codes.DeadlineExceeded, "no reply in time: slow"},
		{codes.ResourceExhausted, "reply larger than the 16 MiB limit: slow"},
		{codes.Unavailable, "Unavailable: slow"},
	} {
		call := proc.CallError(status.Error(c.code, "slow"))
		if call.Error() != c.text {
			t.Errorf("callError = %q, want %q", call, c.text)
		}
		for _, err := range []error{
			call,
			pluginError(p, "configure", call, nil),
			fmt.Errorf("%s: shutdown: %w", "probe.s", call),
		} {
			if got := status.Code(err); got != c.code {
				t.Errorf("status.Code(%q) = %v, want %v", err, got, c.code)
			}
		}
	}
	stderr := &proc.Tail{}
	stderr.Write([]byte("bye"))
	err := pluginError(p, "start", fmt.Errorf("handshake: %w", context.DeadlineExceeded), stderr)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(%q, context.DeadlineExceeded) = false", err)
	}
	if want := `plugin "slow" (/plugins/argus-plugin-slow): start: handshake: context deadline exceeded; it printed: "bye"`; err.Error() != want {
		t.Errorf("pluginError = %q, want %q", err, want)
	}
}
