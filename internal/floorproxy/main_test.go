package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/internal/syncbuf"
	"github.com/argusmcp/argus/internal/testbin"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

var listening = regexp.MustCompile(`listening on (http://\S+/mcp)`)

// waitFor returns the first match of re in out within 30 s.
func waitFor(t *testing.T, out *syncbuf.Buffer, re *regexp.Regexp, done <-chan error) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("ended before it listened: %v\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no %q within 30 s:\n%s", re, out.String())
	return ""
}

// start runs the proxy until the test ends and returns its endpoint.
func start(t *testing.T, url string, command ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, "127.0.0.1:0", url, command, out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("run did not return 10 s after its context ended")
		}
	})
	return waitFor(t, out, listening, done)
}

func demo(t *testing.T) string {
	t.Helper()
	bin, err := testbin.Path(testbin.DemoServer)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// relays checks the proxy at endpoint as a go-sdk client sees it: echo
// answers, a backend's JSON-RPC error arrives as that error, and calls
// from concurrent sessions get their own answers.
func relays(t *testing.T, endpoint string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	connect := func() *mcp.ClientSession {
		s, err := mcp.NewClient(&mcp.Implementation{Name: "floor-test", Version: "0"}, nil).Connect(ctx,
			&mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: &http.Client{}},
			&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	echo := func(s *mcp.ClientSession, msg string) error {
		res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": msg}})
		if err != nil {
			return err
		}
		if len(res.Content) != 1 || res.Content[0].(*mcp.TextContent).Text != msg {
			return fmt.Errorf("echo %q answered %+v", msg, res.Content)
		}
		return nil
	}
	s := connect()
	if err := echo(s, "hello"); err != nil {
		t.Fatal(err)
	}
	_, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "fail", Arguments: map[string]any{"message": "boom"}})
	var rpcErr *jsonrpc.Error
	if !errors.As(err, &rpcErr) || rpcErr.Code != -32001 || !strings.Contains(rpcErr.Message, "boom") {
		t.Fatalf("fail tool: got %v, want the backend's error -32001 boom", err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		s := connect()
		wg.Go(func() {
			for j := range 25 {
				if err := echo(s, fmt.Sprintf("session %d call %d", i, j)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestRelaysToStdioBackend(t *testing.T) {
	relays(t, start(t, "", demo(t), "-name", "floor"))
}

func TestRelaysToHTTPBackend(t *testing.T) {
	out := &syncbuf.Buffer{}
	cmd := exec.Command(demo(t), "-http", "127.0.0.1:0", "-name", "floor-http")
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	relays(t, start(t, waitFor(t, out, listening, done)))
}

func TestRefusesBadArguments(t *testing.T) {
	for _, c := range []struct {
		name, listen, url string
		command           []string
		want              string
	}{
		{"neither backend", "127.0.0.1:0", "", nil, "usage"},
		{"both backends", "127.0.0.1:0", "http://127.0.0.1:1/mcp", []string{"true"}, "usage"},
		{"not loopback", "0.0.0.0:0", "", []string{"true"}, "loopback"},
		{"no port", "127.0.0.1", "", []string{"true"}, "-listen"},
		{"backend that exits", "127.0.0.1:0", "", []string{"true"}, "initialize"},
		{"backend refusing", "127.0.0.1:0", "http://127.0.0.1:1/mcp", nil, "initialize"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := run(ctx, c.listen, c.url, c.command, &syncbuf.Buffer{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("run: %v, want an error about %q", err, c.want)
			}
		})
	}
}

// A backend that answers initialize with an error is stopped when run
// gives up, not waited for while it lives on.
func TestStopsARefusingBackend(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	refuse := `read line; echo '{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"no"}}'; sleep 60`
	start := time.Now()
	err := run(ctx, "127.0.0.1:0", "", []string{"sh", "-c", refuse}, &syncbuf.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "initialize") {
		t.Fatalf("run: %v, want the backend's refusal of initialize", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("run returned after %v: it waited for the backend", d)
	}
}
