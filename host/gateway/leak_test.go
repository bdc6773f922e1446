package gateway_test

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/config/configload"
	"github.com/argusmcp/argus/host/gateway"
	"github.com/argusmcp/argus/internal/leakcheck"
)

// TestGatewayLeavesNoGoroutines runs the gateway in this process, with a
// real stdio backend and a client session doing calls, relays and a
// per-client backend, and checks that Close leaves nothing running.
func TestGatewayLeavesNoGoroutines(t *testing.T) {
	src := demoStdio(t, "alpha") + `
backend "solo" {
  type         = "stdio"
  command      = ` + hclString(binPath(t, "argus-demo-server")) + `
  session_mode = "per-client"
}
health { interval = "20ms" }
`
	cfg, diags := configload.NewParser().Load([]byte(src), "leak.hcl")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	leakcheck.Check(t)
	gw := gateway.New(cfg, hclog.NewNullLogger(), gateway.Options{Version: "test"})
	if err := gw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-gw.StartupDone()
	st, ct := mcp.NewInMemoryTransports()
	ss, err := gw.Server().Connect(context.Background(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "leak", Version: "test"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(context.Context, *mcp.ProgressNotificationClientRequest) {},
	})
	cs, err := client.Connect(context.Background(), ct, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"alpha_echo", "solo_echo"} {
		if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"message": "x"}}); err != nil {
			t.Fatal(err)
		}
	}
	p := &mcp.CallToolParams{Name: "alpha_slow", Arguments: map[string]any{"steps": 2, "interval_ms": 5}}
	p.SetProgressToken("t")
	if _, err := cs.CallTool(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // a few health checks
	cs.Close()
	ss.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := gw.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
