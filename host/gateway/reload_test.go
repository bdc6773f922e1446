package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/config/configload"
	"github.com/argusmcp/argus/host/gateway"
	"github.com/argusmcp/argus/host/health"
)

// slowBackend serves one tool over streamable HTTP, in this process, and
// answers tools/list only after delay.
func slowBackend(t *testing.T, name string, delay time.Duration) string {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "test"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name}}}, nil, nil
	})
	s.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "tools/list" {
				select {
				case <-time.After(delay):
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return next(ctx, method, req)
		}
	})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	t.Cleanup(func() {
		// The gateway, closed after this, holds each session's standalone
		// SSE stream open; Close alone would wait for it.
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv.URL
}

func loadConfig(t *testing.T, src string) *config.Config {
	t.Helper()
	cfg, diags := configload.NewParser().Load([]byte(src), "test.hcl")
	if diags.HasErrors() {
		t.Fatalf("%s\n%s", diags.Error(), src)
	}
	return cfg
}

// TestReloadSlowBackendsConcurrently adds several HTTP backends whose
// tools/list is slow in one reload, so their connections overlap; under
// -race this catches shared state among the connection goroutines. Every
// backend must end up Ready with its tool in the catalogue.
func TestReloadSlowBackendsConcurrently(t *testing.T) {
	gw := gateway.New(loadConfig(t, `conflict_resolution { strategy = "prefix" }`), hclog.NewNullLogger(), gateway.Options{Version: "test"})
	if err := gw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		gw.Close(ctx)
	})
	var src strings.Builder
	src.WriteString("conflict_resolution { strategy = \"prefix\" }\n")
	names := []string{"b1", "b2", "b3", "b4", "b5", "b6"}
	for _, n := range names {
		fmt.Fprintf(&src, "backend %q {\n  type = \"streamable-http\"\n  url = %q\n}\n", n, slowBackend(t, n, 300*time.Millisecond))
	}
	sum, err := gw.Apply(loadConfig(t, src.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Added) != len(names) {
		t.Fatalf("added %v", sum.Added)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ready := 0
		for _, b := range gw.Backends() {
			if b.Phase == health.Ready {
				ready++
			}
		}
		if ready == len(names) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("backends not Ready: %+v", gw.Backends())
		}
		time.Sleep(20 * time.Millisecond)
	}
	snap := gw.Catalog().Snapshot()
	for _, n := range names {
		if _, ok := snap.Tool(n + "_echo"); !ok {
			t.Errorf("tool %s_echo not in the catalogue", n)
		}
	}
}
