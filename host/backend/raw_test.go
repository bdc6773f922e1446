package backend

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
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
	server.AddPrompt(&mcp.Prompt{Name: "greet", Arguments: []*mcp.PromptArgument{{Name: "who"}}}, func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{Description: "a greeting", Messages: []*mcp.PromptMessage{
			{Role: "user", Content: &mcp.TextContent{Text: "hello " + req.Params.Arguments["who"]}},
			{Role: "assistant", Content: &mcp.ImageContent{Data: []byte{1, 2, 3}, MIMEType: "image/png"}},
		}}, nil
	})
	server.AddResource(&mcp.Resource{URI: "test://doc", Name: "doc"}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{
			{URI: "test://doc", MIMEType: "text/plain", Text: "line 1\nline 2"},
			{URI: "test://doc#bin", Blob: []byte{0, 255}},
		}}, nil
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
		`{"content":[{"type":"text","text":"a\qb"}]}`:                                    false, // not a JSON string: refused as the SDK's client would
		`{"content":[{"type":"text","text":"a\u12"}]}`:                                   false,
		"{\"content\":[{\"type\":\"text\",\"text\":\"a\x01b\"}]}":                        false,
		`{"content":[{"type":"text","text":"line\nbreak \u00e9"}]}`:                      true,
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

// TestRawPromptAndResource: prompts/get and resources/read sent with Call
// give the results and errors the SDK's client gives for the same
// requests, and their answers come off the POST's response, not through
// the SDK's session.
func TestRawPromptAndResource(t *testing.T) {
	url, _ := rawServer(t)
	c := dial(t, url, "2025-11-25")
	ctx := context.Background()
	same := func(what string, raw, sdk any, rawErr, sdkErr error) {
		t.Helper()
		if rawErr != nil || sdkErr != nil {
			t.Fatalf("%s: raw %v, SDK %v", what, rawErr, sdkErr)
		}
		a, _ := json.Marshal(raw)
		b, _ := json.Marshal(sdk)
		if string(a) != string(b) {
			t.Fatalf("%s:\nraw %s\nSDK %s", what, a, b)
		}
	}
	prompt := &mcp.GetPromptParams{Name: "greet", Arguments: map[string]string{"who": "<world>"}}
	rp, err := c.GetPrompt(ctx, prompt)
	sp, serr := c.Session().GetPrompt(ctx, prompt)
	same("prompts/get", rp, sp, err, serr)
	if rp.Messages[0].Content.(*mcp.TextContent).Text != "hello <world>" {
		t.Fatalf("prompts/get: %+v", rp.Messages[0].Content)
	}
	read := &mcp.ReadResourceParams{URI: "test://doc"}
	rr, err := c.ReadResource(ctx, read)
	sr, serr := c.Session().ReadResource(ctx, read)
	same("resources/read", rr, sr, err, serr)
	if len(rr.Contents) != 2 || rr.Contents[1].Blob[1] != 255 {
		t.Fatalf("resources/read: %+v", rr.Contents)
	}
	for what, call := range map[string]func() (error, error){
		"unknown prompt": func() (error, error) {
			_, a := c.GetPrompt(ctx, &mcp.GetPromptParams{Name: "nope"})
			_, b := c.Session().GetPrompt(ctx, &mcp.GetPromptParams{Name: "nope"})
			return a, b
		},
		"unknown resource": func() (error, error) {
			_, a := c.ReadResource(ctx, &mcp.ReadResourceParams{URI: "test://nope"})
			_, b := c.Session().ReadResource(ctx, &mcp.ReadResourceParams{URI: "test://nope"})
			return a, b
		},
	} {
		rawErr, sdkErr := call()
		var rw, sw *jsonrpc.Error
		if !errors.As(rawErr, &rw) || !errors.As(sdkErr, &sw) || rw.Code != sw.Code || rw.Message != sw.Message {
			t.Fatalf("%s: raw %v, SDK %v; want the same JSON-RPC error", what, rawErr, sdkErr)
		}
	}
	// Two results and two errors, each read plain off its POST's response.
	if d, h := c.raw.http.direct.Load(), c.raw.http.handed.Load(); d != 4 || h != 0 {
		t.Fatalf("%d answers read off their response, %d handed to the session; want 4 and 0", d, h)
	}
}

// TestRawCancelDoesNotWaitForTheBackend: a call whose context ends returns
// at once, as the SDK's does, even when the backend never takes the
// notifications/cancelled sent for it (here an HTTP server that holds
// that POST); the notification is still sent.
func TestRawCancelDoesNotWaitForTheBackend(t *testing.T) {
	server := mcp.NewServer(&mcp.Implementation{Name: "stall", Version: "0"}, nil)
	server.AddPrompt(&mcp.Prompt{Name: "slow"}, func(ctx context.Context, _ *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	release := make(chan struct{})
	held := make(chan struct{}, 8)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, []byte(`"notifications/cancelled"`)) {
			held <- struct{}{}
			<-release // never answered while the test runs
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	c := dial(t, ts.URL, "2025-11-25")
	t.Cleanup(func() { close(release) }) // before c's Close, which the held POST would keep waiting
	calls := map[string]func(context.Context) error{
		"prompts/get": func(ctx context.Context) error {
			_, err := c.GetPrompt(ctx, &mcp.GetPromptParams{Name: "slow"})
			return err
		},
		"resources/read": func(ctx context.Context) error {
			_, err := c.ReadResource(ctx, &mcp.ReadResourceParams{URI: "test://none"})
			return err
		},
	}
	for name, call := range calls {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- call(ctx) }()
		if name == "prompts/get" {
			time.Sleep(100 * time.Millisecond) // the request is with the backend
		}
		cancel()
		select {
		case err := <-done:
			if name == "prompts/get" && !errors.Is(err, context.Canceled) {
				t.Fatalf("%s: %v, want context.Canceled", name, err)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("%s: still waiting 3s after its context ended", name)
		}
	}
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the backend was not sent notifications/cancelled")
	}
}
