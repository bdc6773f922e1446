package backend

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// slowEnd delays the end of every POST's response by d after the SDK's
// handler has written it: the answer's SSE event reaches the client at
// once, the stream's last chunk d later, as a loaded backend's might.
func slowEnd(next http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		if r.Method == http.MethodPost {
			time.Sleep(d)
		}
	})
}

// TestCallsKeepTheirConnection: a call whose context ends as soon as it
// has its answer, as every call through the gateway does, leaves its
// connection to the backend in the pool though the SSE stream it was
// answered on ended later. Before lingerTransport, each such call cost
// the next one a new TCP connection.
func TestCallsKeepTheirConnection(t *testing.T) {
	server := mcp.NewServer(&mcp.Implementation{Name: "linger-test", Version: "0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "echo"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil, nil
	})
	var conns atomic.Int64
	ts := httptest.NewUnstartedServer(slowEnd(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil), 20*time.Millisecond))
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	ts.Start()
	t.Cleanup(ts.Close)
	c := dial(t, ts.URL, "2025-11-25")

	call := func() {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel() // at once, as the gateway's request context ends
		if _, err := c.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{}}); err != nil {
			t.Fatal(err)
		}
	}
	call()
	time.Sleep(50 * time.Millisecond) // the first call's stream ends
	before := conns.Load()
	const calls = 20
	for range calls {
		call()
		time.Sleep(50 * time.Millisecond) // its stream ends: the connection is free again
	}
	if opened := conns.Load() - before; opened > 1 {
		t.Errorf("%d calls opened %d new connections to the backend, want at most 1", calls, opened)
	}
}

// streamServer answers a POST with headers and one chunk, then holds the
// stream open until the test ends, or (headers false) holds the request
// without answering.
func streamServer(t *testing.T, headers bool) string {
	t.Helper()
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if headers {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: {}\n\n")
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(ts.Close)
	t.Cleanup(func() { close(release) })
	return ts.URL
}

// TestLingerCutsAStreamThatGoesOn: once the call has ended, a response
// that is still being read is cut off grace later, not held for good.
func TestLingerCutsAStreamThatGoesOn(t *testing.T) {
	url := streamServer(t, true)
	rt := lingerTransport{base: http.DefaultTransport.(*http.Transport).Clone(), grace: 100 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader("{}"))
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 64)
	if n, err := resp.Body.Read(buf); err != nil || !strings.Contains(string(buf[:n]), "data:") {
		t.Fatalf("first read: %q, %v", buf[:n], err)
	}
	start := time.Now()
	cancel()
	_, err = io.ReadAll(resp.Body)
	took := time.Since(start)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("reading on after the call ended: %v, want context.Canceled", err)
	}
	if took < rt.grace || took > rt.grace+2*time.Second {
		t.Errorf("the stream was cut %v after the call ended, want about %v", took, rt.grace)
	}
}

// TestLingerEndsAWaitForHeaders: a call that ends before the backend has
// answered at all ends its request at once; the grace is only for reading
// a response on.
func TestLingerEndsAWaitForHeaders(t *testing.T) {
	url := streamServer(t, false)
	rt := lingerTransport{base: http.DefaultTransport.(*http.Transport).Clone(), grace: time.Hour}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader("{}"))
	start := time.Now()
	resp, err := rt.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("RoundTrip answered by a server that never answers")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("RoundTrip returned %v after its context ended (%v), want at once", took, err)
	}
}
