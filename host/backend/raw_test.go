package backend

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// rawServer is a go-sdk streamable HTTP backend with tools whose results
// take each of CallTool's two ways, and one that waits to be cancelled.
func rawServer(t *testing.T) (url string, cancelled chan struct{}) {
	server := mcp.NewServer(&mcp.Implementation{Name: "raw-test", Version: "0"}, nil)
	text := func(s string) []mcp.Content { return []mcp.Content{&mcp.TextContent{Text: s}} }
	mcp.AddTool(server, &mcp.Tool{Name: "echo"}, func(_ context.Context, _ *mcp.CallToolRequest, in struct {
		Message string `json:"message"`
	}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: text(in.Message)}, nil, nil
	})
	mcp.AddTool(server, &mcp.Tool{Name: "fail"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: text("boom"), IsError: true}, nil, nil
	})
	mcp.AddTool(server, &mcp.Tool{Name: "meta"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Meta: mcp.Meta{"k": "v"}, Content: text("with meta")}, nil, nil
	})
	cancelled = make(chan struct{})
	mcp.AddTool(server, &mcp.Tool{Name: "wait"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		select {
		case <-ctx.Done():
			close(cancelled)
			return nil, nil, ctx.Err()
		case <-time.After(5 * time.Second):
			return nil, nil, errors.New("not cancelled")
		}
	})
	ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))
	t.Cleanup(ts.Close)
	return ts.URL, cancelled
}

// TestCallTool: a plain result passes through as the backend's bytes; an
// error result or one with _meta is decoded as the SDK's client would; a
// backend's JSON-RPC error comes back as one; a cancelled call tells the
// backend; the SDK's own session works beside it all along.
func TestCallTool(t *testing.T) {
	url, cancelled := rawServer(t)
	c := dial(t, url, "2025-11-25")
	if !c.RawCalls() {
		t.Fatalf("RawCalls false for a %s backend", c.ProtocolVersion())
	}
	ctx := context.Background()

	res, err := c.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: json.RawMessage(`{"message":"hi"}`)})
	raw, ok := res.(*RawToolResult)
	if err != nil || !ok {
		t.Fatalf("echo: %T %v, want a RawToolResult", res, err)
	}
	if b, _ := json.Marshal(res); string(b) != string(raw.Raw) || !strings.Contains(string(b), `"text":"hi"`) {
		t.Fatalf("echo encodes as %s", b)
	}

	for _, name := range []string{"fail", "meta"} {
		res, err := c.CallTool(ctx, &mcp.CallToolParams{Name: name})
		typed, ok := res.(*mcp.CallToolResult)
		if err != nil || !ok {
			t.Fatalf("%s: %T %v, want a decoded *mcp.CallToolResult", name, res, err)
		}
		if name == "fail" && !typed.IsError || name == "meta" && typed.Meta["k"] != "v" {
			t.Fatalf("%s decoded as %+v", name, typed)
		}
	}

	_, err = c.CallTool(ctx, &mcp.CallToolParams{Name: "no-such-tool"})
	var we *jsonrpc.Error
	if !errors.As(err, &we) || !strings.Contains(we.Message, "no-such-tool") {
		t.Fatalf("unknown tool: %v, want the backend's JSON-RPC error", err)
	}

	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := c.CallTool(cctx, &mcp.CallToolParams{Name: "wait"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait: %v, want the context's deadline", err)
	}
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the backend never saw notifications/cancelled")
	}

	if r, err := c.Session().CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "sdk"}}); err != nil || r.Content[0].(*mcp.TextContent).Text != "sdk" {
		t.Fatalf("the SDK's session beside it: %+v %v", r, err)
	}
	c.Close()
	if _, err := c.Call(ctx, "tools/call", json.RawMessage(`{"name":"echo"}`)); err == nil {
		t.Fatal("Call on a closed connection succeeded")
	}
}

func TestPassThrough(t *testing.T) {
	for raw, want := range map[string]bool{
		`{"content":[{"type":"text","text":"a"}]}`:                                       true,
		`{"content":[{"type":"text","text":"a"}],"isError":false}`:                       true,
		`{"content":[],"structuredContent":{"n":1}}`:                                     true,
		`{"content":[{"type":"image","data":"AA==","mimeType":"image/png"}]}`:            false,
		`{"content":[{"type":"text","text":5}]}`:                                         false,
		`{"content":[{"type":"text"}]}`:                                                  false,
		`{"content":[{"type":"text","text":null}]}`:                                      false,
		`{"content":[{"type":"text","text":"a","annotations":{"priority":"x"}}]}`:        false,
		`{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}`:            true,
		`{"content":[{"type":"text","text":"a"}],"isError":true}`:                        false,
		`{"content":[{"type":"text","text":"a"}],"_meta":{"k":1}}`:                       false,
		`{"content":[{"type":"text","text":"a"}],"resultType":"complete"}`:               false,
		`{"content":[{"type":"widget"}]}`:                                                false,
		`{"Content":[{"type":"text","text":"a"}]}`:                                       false,
		`{"content":{"type":"text"}}`:                                                    false,
		`{}`:                                                                             false,
		`{"content":[{"type":"text","text":"a"}]} x`:                                     false,
		`{"content":[{"type":"text","text":"a"}],"inputRequests":{},"requestState":"s"}`: false,
	} {
		if got := passThrough(json.RawMessage(raw)); got != want {
			t.Errorf("passThrough(%s) = %v, want %v", raw, got, want)
		}
	}
}
