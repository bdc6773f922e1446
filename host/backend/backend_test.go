package backend

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/config"
)

// headerLog records the MCP-Protocol-Version header of each JSON-RPC
// method a server received.
type headerLog struct {
	mu      sync.Mutex
	headers map[string][]string
}

func (h *headerLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var msg struct {
			Method string `json:"method"`
		}
		if json.Unmarshal(body, &msg) == nil && msg.Method != "" {
			h.mu.Lock()
			h.headers[msg.Method] = append(h.headers[msg.Method], r.Header.Get("Mcp-Protocol-Version"))
			h.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func (h *headerLog) of(method string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.headers[method]...)
}

// serve starts a go-sdk streamable HTTP server with one tool.
func serve(t *testing.T, stateless bool) (string, *headerLog) {
	t.Helper()
	url, log, _ := serveOpts(t, stateless, nil)
	return url, log
}

// serveOpts is serve with server options; it also returns the test server.
func serveOpts(t *testing.T, stateless bool, opts *mcp.ServerOptions) (string, *headerLog, *httptest.Server) {
	t.Helper()
	server := mcp.NewServer(&mcp.Implementation{Name: "backend-test", Version: "0"}, opts)
	mcp.AddTool(server, &mcp.Tool{Name: "echo"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil, nil
	})
	log := &headerLog{headers: map[string][]string{}}
	ts := httptest.NewServer(log.wrap(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server },
		&mcp.StreamableHTTPOptions{Stateless: stateless})))
	t.Cleanup(ts.Close)
	return ts.URL, log, ts
}

func dial(t *testing.T, url, version string) *Conn {
	t.Helper()
	cfg := config.Backend{Name: "b", Type: config.TypeStreamableHTTP, URL: url, ProtocolVersion: version,
		ConnectTimeout: 30 * time.Second, CallTimeout: 30 * time.Second}
	// OnRead set: the connection is wrapped, as the gateway always does.
	c, err := Dial(context.Background(), cfg, Options{Logger: hclog.NewNullLogger(),
		Client: &mcp.Implementation{Name: "argus", Version: "test"}, OnRead: func(jsonrpc.Message) {}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestProtocolVersionHeader: after initialize, every request to an HTTP
// backend carries the negotiated revision as MCP-Protocol-Version (the
// SDK's own header logic does not see the session through Argus's
// observing wrapper, so requests used to go without it).
func TestProtocolVersionHeader(t *testing.T) {
	url, log := serve(t, false)
	c := dial(t, url, config.DefaultBackendProtocol)
	if got := c.ProtocolVersion(); got != config.DefaultBackendProtocol {
		t.Fatalf("negotiated %q, want %q", got, config.DefaultBackendProtocol)
	}
	if _, err := c.Session().CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"tools/call", "ping"} {
		if got := log.of(m); len(got) != 1 || got[0] != config.DefaultBackendProtocol {
			t.Errorf("%s sent with MCP-Protocol-Version %q, want [%s]", m, got, config.DefaultBackendProtocol)
		}
	}
}

// TestNegotiatesStateless: asked for 2026-07-28, a backend that offers it
// (a stateless go-sdk server) is spoken to at that revision; one that does
// not (a stateful go-sdk server) at 2025-11-25, through the SDK's
// fallback to initialize.
func TestNegotiatesStateless(t *testing.T) {
	for _, tc := range []struct {
		stateless bool
		want      string
	}{{true, "2026-07-28"}, {false, "2025-11-25"}} {
		url, log := serve(t, tc.stateless)
		c := dial(t, url, "2026-07-28")
		if got := c.ProtocolVersion(); got != tc.want {
			t.Errorf("stateless server %t: negotiated %q, want %q", tc.stateless, got, tc.want)
			continue
		}
		if _, err := c.Session().CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{}}); err != nil {
			t.Errorf("stateless server %t: %v", tc.stateless, err)
		}
		if got := log.of("tools/call"); len(got) != 1 || got[0] != tc.want {
			t.Errorf("stateless server %t: tools/call sent with MCP-Protocol-Version %q, want [%s]", tc.stateless, got, tc.want)
		}
	}
}

// TestPingGoesToTheBackend: the health check of a 2026-07-28 backend whose
// lists may be cached (ttlMs) still reaches the backend each time, so a
// backend that has gone away fails it at once.
func TestPingGoesToTheBackend(t *testing.T) {
	url, log, ts := serveOpts(t, true, &mcp.ServerOptions{SetCacheable: func(_ context.Context, _ mcp.Request, c *mcp.Cacheable) {
		c.TTLMs = int((time.Hour).Milliseconds())
	}})
	c := dial(t, url, "2026-07-28")
	for range 2 {
		if err := c.Ping(context.Background()); err != nil {
			t.Fatalf("ping of a live backend: %v", err)
		}
	}
	if n := len(log.of("tools/list")); n != 2 {
		t.Fatalf("two checks sent %d tools/list requests, want 2", n)
	}
	ts.CloseClientConnections()
	ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Ping(ctx); err == nil {
		t.Fatal("ping of a backend that has gone away succeeded")
	}
}
