package gateway_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestE2EProtocolVersions: clients of every supported revision, including
// the stateless 2026-07-28, call through Argus and hear about catalogue
// changes; a method a revision removed (ping in 2026-07-28) is an error,
// never a crash.
func TestE2EProtocolVersions(t *testing.T) {
	url, proc := startArgus(t, demoStdio(t, "alpha")+demoStdio(t, "beta"))
	ctx := context.Background()
	type client struct {
		version string
		s       *mcp.ClientSession
		changed chan struct{}
	}
	var clients []client
	for _, v := range []string{"2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"} {
		changed := make(chan struct{}, 8)
		c := mcp.NewClient(&mcp.Implementation{Name: "pv-" + v, Version: "test"}, &mcp.ClientOptions{
			ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
		})
		s, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url}, &mcp.ClientSessionOptions{ProtocolVersion: v})
		if err != nil {
			t.Fatalf("%s: connect: %v", v, err)
		}
		t.Cleanup(func() { s.Close() })
		if got := s.InitializeResult().ProtocolVersion; got != v {
			t.Errorf("asked for %s, negotiated %s", v, got)
		}
		if got := call(t, s, "alpha_echo", map[string]any{"message": "rev " + v}); got != "rev "+v {
			t.Errorf("%s: echo = %q", v, got)
		}
		err = s.Ping(ctx, nil)
		if v >= "2026-07-28" {
			if err == nil {
				t.Errorf("%s: ping, removed in this revision, succeeded", v)
			}
		} else if err != nil {
			t.Errorf("%s: ping: %v", v, err)
		}
		clients = append(clients, client{v, s, changed})
	}
	// Give stateless clients' subscriptions/listen streams a moment to open.
	time.Sleep(300 * time.Millisecond)
	call(t, clients[0].s, "beta_add_tool", map[string]any{"name": "late"})
	for _, c := range clients {
		select {
		case <-c.changed:
		case <-time.After(5 * time.Second):
			t.Errorf("%s: no tools/list_changed", c.version)
		}
	}
	if strings.Contains(proc.Stderr.String(), "panic") {
		t.Errorf("argus panicked:\n%s", proc.Stderr.String())
	}
}
