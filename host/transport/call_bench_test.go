package transport_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/config/configload"
	"github.com/argusmcp/argus/host/gateway"
	"github.com/argusmcp/argus/host/transport"
	"github.com/argusmcp/argus/internal/testbin"
)

// TestMain removes the binaries internal/testbin built for the benchmark.
func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// Allocation budget of one proxied tools/call in the process that runs
// the gateway (the /mcp handler, the chain, the router, the stdio backend
// link) and the go-sdk client that calls it. The backend is another
// process and does not count. Held by TestProxiedCallAllocBudget; the
// README's Performance section explains where they go.
const (
	proxiedCallAllocsBudget = 232
	proxiedCallBytesBudget  = 176 << 10
)

// proxiedCall starts an in-process gateway (audit and telemetry off)
// fronting the demo server over stdio, serves its /mcp handler on a
// loopback httptest server, and returns a function that makes one
// tools/call echo through it and checks the answer.
func proxiedCall(tb testing.TB) func() {
	tb.Helper()
	demo, err := testbin.Path(testbin.DemoServer)
	if err != nil {
		tb.Fatal(err)
	}
	src := fmt.Sprintf(`
audit {
  enabled = false
}
backend "demo" {
  type    = "stdio"
  command = %s
}
conflict_resolution {
  strategy = "first-wins"
}
`, strconv.Quote(demo))
	cfg, diags := configload.NewParser().Load([]byte(src), "bench.hcl")
	if diags.HasErrors() {
		tb.Fatal(diags)
	}
	gw := gateway.New(cfg, hclog.NewNullLogger(), gateway.Options{Version: "bench"})
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	if err := gw.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		gw.Close(cctx)
	})
	select {
	case <-gw.StartupDone():
	case <-time.After(60 * time.Second):
		tb.Fatal("gateway start-up not done within 60s")
	}
	if err := gw.StartupErr(); err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(transport.NewMCPHandler(transport.HTTPOptions{
		Server: gw.Server(), Refuser: gw, Panics: gw.Panics(), Lean: gw.ServeLean,
		Tool: func(name string) (*mcp.Tool, bool) { return gw.Catalog().Snapshot().ToolDef(name) },
	}))
	tb.Cleanup(srv.Close)
	client := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "test"}, nil)
	session, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: srv.URL, HTTPClient: &http.Client{}},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { session.Close() })
	params := &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "hello"}}
	return func() {
		res, err := session.CallTool(ctx, params)
		if err != nil {
			tb.Fatal(err)
		}
		if tc, ok := res.Content[0].(*mcp.TextContent); res.IsError || !ok || tc.Text != "hello" {
			tb.Fatalf("echo answered %+v", res)
		}
	}
}

// BenchmarkProxiedCall is one tools/call echo through an in-process
// gateway to a stdio backend, with the allocations of gateway and client
// (run with -benchmem). `make bench` runs it; TestProxiedCallAllocBudget
// holds its allocation budget.
func BenchmarkProxiedCall(b *testing.B) {
	call := proxiedCall(b)
	for range 50 { // warm up: connections, the router's state
		call()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		call()
	}
}
