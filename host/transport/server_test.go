package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/revision"
	"github.com/argusmcp/argus/host/transport/listener"
)

// serveLimited serves the real /mcp handler through NewServer and
// LimitListener, as `argus serve` does, and returns its address.
func serveLimited(t *testing.T, s config.Server) string {
	t.Helper()
	server := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "sleep"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		select {
		case <-time.After(time.Second):
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "slept"}}}, nil, nil
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := listener.NewServer(NewMCPHandler(HTTPOptions{Server: server}), s, nil)
	go srv.Serve(listener.LimitListener(ln, s.MaxConnections))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// closedWithin reads from c until the server closes it and reports how
// long that took; it fails if the connection stays open for within.
func closedWithin(t *testing.T, c net.Conn, within time.Duration) (time.Duration, string) {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(within))
	b, err := io.ReadAll(c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open after %v", within)
	}
	return time.Since(start), string(b)
}

// trickle writes one byte of s every interval until the connection fails.
func trickle(c net.Conn, s string, interval time.Duration) {
	for i := 0; i < len(s); i++ {
		if _, err := c.Write([]byte{s[i]}); err != nil {
			return
		}
		time.Sleep(interval)
	}
}

func TestSlowPeersAreCutOff(t *testing.T) {
	addr := serveLimited(t, config.Server{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, IdleTimeout: 400 * time.Millisecond})
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	t.Run("slow headers", func(t *testing.T) {
		c := dial()
		go trickle(c, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "+strings.Repeat("a", 200), 50*time.Millisecond)
		if d, _ := closedWithin(t, c, 5*time.Second); d < 200*time.Millisecond {
			t.Errorf("closed after %v, before the header timeout", d)
		}
	})
	t.Run("silent connection", func(t *testing.T) {
		closedWithin(t, dial(), 5*time.Second)
	})
	t.Run("slow body", func(t *testing.T) {
		c := dial()
		fmt.Fprintf(c, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 400\r\n\r\n{")
		go trickle(c, strings.Repeat(" ", 399), 50*time.Millisecond)
		_, resp := closedWithin(t, c, 5*time.Second)
		if !strings.HasPrefix(resp, "HTTP/1.1 408") || !strings.Contains(resp, `"code":-32600`) {
			t.Errorf("answer to a slow body: %q", resp)
		}
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		c := dial()
		fmt.Fprintf(c, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: %d\r\n\r\n%s", len(initBody), initBody)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("initialize: %v %v", resp, err)
		}
		io.Copy(io.Discard, resp.Body)
		if d, _ := closedWithin(t, c, 5*time.Second); d < 300*time.Millisecond {
			t.Errorf("idle connection closed after %v, before idle_timeout", d)
		}
	})
	t.Run("long requests and streams are not cut", func(t *testing.T) {
		url := "http://" + addr + "/mcp"
		a := do(t, "POST", url, initBody, nil)
		if a.status != 200 {
			t.Fatalf("initialize: %+v", a)
		}
		sid := map[string]string{"Mcp-Session-Id": a.sessionID, "MCP-Protocol-Version": "2025-11-25"}
		do(t, "POST", url, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, sid)
		// The GET stream outlives read and idle timeouts.
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Mcp-Session-Id", a.sessionID)
		req.Header.Set("MCP-Protocol-Version", "2025-11-25")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET stream: %v %v", resp, err)
		}
		defer resp.Body.Close()
		streamErr := make(chan error, 1)
		go func() { _, err := io.Copy(io.Discard, resp.Body); streamErr <- err }()
		// A call running longer than read_timeout (its body was read at once).
		if a := do(t, "POST", url, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sleep","arguments":{}}}`, sid); a.status != 200 || !strings.Contains(a.raw, "slept") {
			t.Errorf("long call: %d %s", a.status, a.raw)
		}
		// The same on the stateless revision, where the call ends with its
		// HTTP request.
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil).Connect(context.Background(),
			&mcp.StreamableClientTransport{Endpoint: url}, &mcp.ClientSessionOptions{ProtocolVersion: revision.Stateless})
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		if res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "sleep"}); err != nil || res.Content[0].(*mcp.TextContent).Text != "slept" {
			t.Errorf("long stateless call: %v %+v", err, res)
		}
		select {
		case err := <-streamErr:
			t.Errorf("GET stream ended after the read timeout: %v", err)
		default:
		}
	})
}

func TestConnectionCap(t *testing.T) {
	addr := serveLimited(t, config.Server{MaxConnections: 2, ReadHeaderTimeout: 10 * time.Second})
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	c, err := net.Dial("tcp", addr) // the kernel accepts; Argus does not yet
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "DELETE /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("third connection served beyond max_connections (read: %v)", err)
	}
	held[0].Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("third connection after one closed: %v", err)
	}
	resp.Body.Close()
}
