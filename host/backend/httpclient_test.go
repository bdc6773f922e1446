package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/config"
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
		time.Sleep(100 * time.Millisecond) // its stream ends (20 ms): the connection is free again
	}
	if opened := conns.Load() - before; opened > 2 { // a stall of the machine may cost one
		t.Errorf("%d calls opened %d new connections to the backend, want at most 2", calls, opened)
	}
}

// streamServer answers a POST with headers and one event, then (more
// true) another event once more is closed, and holds the stream open
// until the client goes; done is closed when the handler sees its request
// end. With headers false it holds the request without answering.
func streamServer(t *testing.T, headers bool) (url string, more, done chan struct{}) {
	t.Helper()
	more, done = make(chan struct{}), make(chan struct{})
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		if headers {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: first\n\n")
			w.(http.Flusher).Flush()
			select {
			case <-more:
				io.WriteString(w, "data: after the call ended\n\n")
				w.(http.Flusher).Flush()
			case <-r.Context().Done():
				return
			}
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(ts.Close)
	t.Cleanup(func() { close(release) })
	return ts.URL, more, done
}

// TestLingerCutsAStreamThatGoesOn: once the call has ended, nothing more
// of its response reaches the reader (the SDK), and a stream that goes on
// is cut grace later, not held for good.
func TestLingerCutsAStreamThatGoesOn(t *testing.T) {
	url, more, done := streamServer(t, true)
	rt := lingerTransport{base: http.DefaultTransport.(*http.Transport).Clone(), grace: 100 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader("{}"))
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, err := resp.Body.Read(buf); err != nil || !strings.Contains(string(buf[:n]), "first") {
		t.Fatalf("first read: %q, %v", buf[:n], err)
	}
	start := time.Now()
	cancel()
	time.Sleep(20 * time.Millisecond) // the caller's AfterFunc runs
	close(more)
	got, err := io.ReadAll(resp.Body)
	if !errors.Is(err, context.Canceled) || len(got) != 0 {
		t.Errorf("reading on after the call ended: %q, %v; want nothing and context.Canceled", got, err)
	}
	resp.Body.Close()
	select {
	case <-done:
	case <-time.After(rt.grace + 5*time.Second):
		t.Fatal("the request was not ended after grace")
	}
	if took := time.Since(start); took < rt.grace {
		t.Errorf("the stream was cut %v after the call ended, before grace (%v)", took, rt.grace)
	}
}

// TestCancelledCallsMessagesStayOut: a call cancelled while its backend
// goes on writing to its stream (here: log messages, from a tool that
// ignores the cancellation) hands nothing more to the SDK's session, which
// would pass it on to whichever client is there; before the body was
// detached, the grace let some twenty such messages through.
func TestCancelledCallsMessagesStayOut(t *testing.T) {
	server := mcp.NewServer(&mcp.Implementation{Name: "chatty", Version: "0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "talk"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		ctx = context.WithoutCancel(ctx)
		for i := range 40 {
			req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Data: fmt.Sprint("message ", i)})
			time.Sleep(10 * time.Millisecond)
		}
		return &mcp.CallToolResult{}, nil, nil
	})
	ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))
	t.Cleanup(ts.Close)
	var ended atomic.Bool
	var late atomic.Int64
	cfg := config.Backend{Name: "b", Type: config.TypeStreamableHTTP, URL: ts.URL, ProtocolVersion: "2025-11-25",
		ConnectTimeout: 30 * time.Second, CallTimeout: 30 * time.Second}
	c, err := Dial(context.Background(), cfg, Options{Logger: hclog.NewNullLogger(), Client: &mcp.Implementation{Name: "argus", Version: "test"},
		OnRead: func(m jsonrpc.Message) {
			if r, ok := m.(*jsonrpc.Request); ok && r.Method == "notifications/message" && ended.Load() {
				late.Add(1)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Session().SetLoggingLevel(context.Background(), &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.CallTool(ctx, &mcp.CallToolParams{Name: "talk", Arguments: map[string]any{}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the call: %v, want its deadline", err)
	}
	ended.Store(true)
	time.Sleep(500 * time.Millisecond) // the tool goes on talking
	if n := late.Load(); n > 0 {
		t.Errorf("%d log messages of the cancelled call reached the SDK after it ended", n)
	}
}

// TestLingerEndsAWaitForHeaders: a call that ends before the backend has
// answered at all ends its request at once; the grace is only for reading
// a response on.
func TestLingerEndsAWaitForHeaders(t *testing.T) {
	url, _, _ := streamServer(t, false)
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

// connCounter starts a go-sdk streamable HTTP server whose connections it
// counts: opened in all, and open now.
func connCounter(t *testing.T) (url string, opened, open *atomic.Int64) {
	t.Helper()
	server := mcp.NewServer(&mcp.Implementation{Name: "pool-test", Version: "0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "echo"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil, nil
	})
	opened, open = new(atomic.Int64), new(atomic.Int64)
	ts := httptest.NewUnstartedServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			opened.Add(1)
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	ts.Start()
	t.Cleanup(ts.Close)
	return ts.URL, opened, open
}

// sessionCalls dials a session to url over pool (nil: its own), makes
// calls on it and closes it, as a per-client backend session of a
// stateless client's request does.
func sessionCalls(t *testing.T, url string, pool *Pool, calls int) {
	t.Helper()
	cfg := config.Backend{Name: "b", Type: config.TypeStreamableHTTP, URL: url, ProtocolVersion: "2025-11-25",
		ConnectTimeout: 30 * time.Second, CallTimeout: 30 * time.Second}
	c, err := Dial(context.Background(), cfg, Options{Logger: hclog.NewNullLogger(),
		Client: &mcp.Implementation{Name: "argus", Version: "test"}, OnRead: func(jsonrpc.Message) {}, Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	for range calls {
		if _, err := c.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSessionsShareTheBackendsPool: sessions dialled one after another
// over one Pool keep no more connections open than one session does,
// however many there were, and CloseIdle closes them. Before Pool each
// session had a pool of its own that nothing closed: a stateless
// client, whose every call opens a per-client backend session, left a
// connection per call open for 90 s (15,000 file descriptors in 30 s).
func TestSessionsShareTheBackendsPool(t *testing.T) {
	url, opened, open := connCounter(t)
	pool := NewPool()
	const sessions = 30
	for range sessions {
		sessionCalls(t, url, pool, 2)
	}
	// A session's POSTs reuse the pool's idle connections; its
	// standalone GET stream holds one of its own while it lives, closed
	// with it (which the server may see a moment later on a loaded
	// machine). Sessions with pools of their own left 40 and more open.
	deadline := time.Now().Add(2 * time.Second)
	for open.Load() > 4 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := open.Load(); n > 4 {
		t.Errorf("after %d sessions over one pool (%d connections opened in all), %d connections open, want at most 4", sessions, opened.Load(), n)
	}
	// Its POSTs reuse the pool's connections: a session opens about one
	// (for its stream); with a pool of its own it opens two or more.
	if n := opened.Load(); n > sessions+4 {
		t.Errorf("%d sessions over one pool opened %d connections, want at most %d", sessions, n, sessions+4)
	}
	pool.CloseIdle()
	waitConns(t, open, "after CloseIdle")
}

// TestOwnPoolClosesWithItsSession: a session dialled without a Pool
// leaves no connection open once it is closed.
func TestOwnPoolClosesWithItsSession(t *testing.T) {
	url, _, open := connCounter(t)
	for range 10 {
		sessionCalls(t, url, nil, 2)
	}
	waitConns(t, open, "after 10 sessions with pools of their own closed")
}

// waitConns waits for the server to see every connection closed.
func waitConns(t *testing.T, open *atomic.Int64, when string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for open.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d connections still open", when, open.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
