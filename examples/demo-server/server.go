package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	// failErrorCode is the JSON-RPC error code returned by the fail tool.
	failErrorCode = -32001

	defaultSlowSteps      = 5
	defaultSlowIntervalMS = 100

	// metaKey is the _meta key set by the meta tool to the server name.
	metaKey = "demo/server"
)

// greetStyles are the accepted values of the greet prompt's style argument,
// offered by completion.
var greetStyles = []string{"plain", "shout"}

// demoPNG is a valid 1x1 PNG image returned by the meta tool.
var demoPNG = tinyPNG()

func tinyPNG() []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	img.Set(0, 0, color.NRGBA{R: 0x1e, G: 0x90, B: 0xff, A: 0xff})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// Tool inputs and outputs. Input schemas are generated from these types; the
// jsonschema tags become property descriptions, and fields without omitempty
// are required.

type echoInput struct {
	Message string `json:"message" jsonschema:"the text to echo back verbatim"`
}

type echoOutput struct {
	Message string `json:"message"`
}

type addInput struct {
	A float64 `json:"a" jsonschema:"first addend"`
	B float64 `json:"b" jsonschema:"second addend"`
}

type addOutput struct {
	Sum float64 `json:"sum"`
}

type slowInput struct {
	Steps      int `json:"steps,omitempty" jsonschema:"number of steps; values <= 0 mean the default of 5"`
	IntervalMS int `json:"interval_ms,omitempty" jsonschema:"milliseconds per step; values <= 0 mean the default of 100"`
}

type sleepInput struct {
	MS int `json:"ms" jsonschema:"milliseconds to sleep"`
}

type messageInput struct {
	Message string `json:"message,omitempty" jsonschema:"the error message"`
}

type pidOutput struct {
	PID int `json:"pid"`
}

type metaOutput struct {
	OK bool `json:"ok"`
}

// newServer returns the demo MCP server, identified by name, with all of its
// tools, resources, prompts and completions registered.
func newServer(name string) *mcp.Server {
	server := mcp.NewServer(&mcp.Implementation{Name: name, Title: "Argus demo server " + name, Version: "0.1.0"}, &mcp.ServerOptions{
		Instructions:      "Demo server " + name + " for exercising the Argus MCP gateway.",
		CompletionHandler: complete,
		// Accept subscriptions; the SDK tracks them for ResourceUpdated.
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	addRelayTools(server, name)
	addPingDelayTool(server)
	addTraceTool(server)
	addCapabilitiesTool(server)

	mcp.AddTool(server, &mcp.Tool{
		Name:        "echo",
		Description: "Echo a message back unchanged.",
	}, echoTool)
	mcp.AddTool(server, &mcp.Tool{
		Name:        "add",
		Description: "Add two numbers.",
	}, addTool)
	mcp.AddTool(server, &mcp.Tool{
		Name:        "slow",
		Description: "Run for a number of steps, sending a progress notification after each one (when the request carries a progress token).",
	}, slowTool)
	mcp.AddTool(server, &mcp.Tool{
		Name:        "sleep",
		Description: "Sleep for the given number of milliseconds, then reply \"slept\".",
	}, sleepTool)
	// A *jsonrpc.Error returned from a typed handler reaches the client as a
	// JSON-RPC error response (other errors become isError results).
	mcp.AddTool(server, &mcp.Tool{
		Name:        "fail",
		Description: fmt.Sprintf("Fail with a JSON-RPC error (code %d) carrying the message.", failErrorCode),
	}, failTool)
	mcp.AddTool(server, &mcp.Tool{
		Name:        "tool_error",
		Description: "Return a tool result with isError set and the message as text.",
	}, toolErrorTool)
	mcp.AddTool(server, &mcp.Tool{
		Name:        "pid",
		Description: "Return the server's process id.",
	}, pidTool)
	mcp.AddTool(server, &mcp.Tool{
		Name:        "meta",
		Description: "Return a result with _meta, a text and an image content block, and structured content.",
	}, metaTool(name))

	server.AddResource(&mcp.Resource{
		Name:        "readme",
		Title:       "Demo server " + name + " readme",
		Description: "A static text resource.",
		MIMEType:    "text/plain",
		URI:         readmeURI(name),
	}, readmeResource(name))
	server.AddResourceTemplate(&mcp.ResourceTemplate{
		Name:        "item",
		Title:       "Demo server " + name + " items",
		Description: "An item looked up by id.",
		MIMEType:    "text/plain",
		URITemplate: itemsPrefix(name) + "{id}",
	}, itemResource(name))

	server.AddPrompt(&mcp.Prompt{
		Name:        "greet",
		Description: "Greet someone.",
		Arguments: []*mcp.PromptArgument{
			{Name: "name", Description: "who to greet", Required: true},
			{Name: "style", Description: `"plain" (default) or "shout"`},
		},
	}, greetPrompt)

	return server
}

func readmeURI(name string) string   { return "demo://" + name + "/readme" }
func itemsPrefix(name string) string { return "demo://" + name + "/items/" }

func textResult(text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}
}

func echoTool(_ context.Context, _ *mcp.CallToolRequest, in echoInput) (*mcp.CallToolResult, echoOutput, error) {
	return textResult(in.Message), echoOutput{Message: in.Message}, nil
}

func addTool(_ context.Context, _ *mcp.CallToolRequest, in addInput) (*mcp.CallToolResult, addOutput, error) {
	sum := in.A + in.B
	return textResult(strconv.FormatFloat(sum, 'g', -1, 64)), addOutput{Sum: sum}, nil
}

func slowTool(ctx context.Context, req *mcp.CallToolRequest, in slowInput) (*mcp.CallToolResult, any, error) {
	steps, interval := in.Steps, in.IntervalMS
	if steps <= 0 {
		steps = defaultSlowSteps
	}
	if interval <= 0 {
		interval = defaultSlowIntervalMS
	}
	var token any
	if req != nil && req.Params != nil {
		token = req.Params.GetProgressToken()
	}
	ticker := time.NewTicker(time.Duration(interval) * time.Millisecond)
	defer ticker.Stop()
	for i := 1; i <= steps; i++ {
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-ticker.C:
		}
		if token == nil {
			continue
		}
		err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
			ProgressToken: token,
			Progress:      float64(i),
			Total:         float64(steps),
			Message:       fmt.Sprintf("step %d of %d", i, steps),
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			return nil, nil, fmt.Errorf("sending progress: %w", err)
		}
	}
	return textResult(fmt.Sprintf("done after %d steps", steps)), nil, nil
}

func sleepTool(ctx context.Context, _ *mcp.CallToolRequest, in sleepInput) (*mcp.CallToolResult, any, error) {
	if in.MS > 0 {
		t := time.NewTimer(time.Duration(in.MS) * time.Millisecond)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-t.C:
		}
	}
	return textResult("slept"), nil, nil
}

func failTool(_ context.Context, _ *mcp.CallToolRequest, in messageInput) (*mcp.CallToolResult, any, error) {
	msg := in.Message
	if msg == "" {
		msg = "demo failure"
	}
	// Must be returned unwrapped: the SDK only forwards a bare *jsonrpc.Error
	// as a protocol error.
	return nil, nil, &jsonrpc.Error{Code: failErrorCode, Message: msg}
}

func toolErrorTool(_ context.Context, _ *mcp.CallToolRequest, in messageInput) (*mcp.CallToolResult, any, error) {
	msg := in.Message
	if msg == "" {
		msg = "demo tool error"
	}
	res := textResult(msg)
	res.IsError = true
	return res, nil, nil
}

func pidTool(_ context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, pidOutput, error) {
	pid := os.Getpid()
	return textResult(strconv.Itoa(pid)), pidOutput{PID: pid}, nil
}

func metaTool(name string) mcp.ToolHandlerFor[struct{}, metaOutput] {
	return func(_ context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, metaOutput, error) {
		return &mcp.CallToolResult{
			Meta: mcp.Meta{metaKey: name},
			Content: []mcp.Content{
				&mcp.TextContent{Text: "meta from " + name},
				&mcp.ImageContent{MIMEType: "image/png", Data: demoPNG},
			},
		}, metaOutput{OK: true}, nil
	}
}

func readmeResource(name string) mcp.ResourceHandler {
	uri := readmeURI(name)
	return func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		if req.Params.URI != uri {
			return nil, mcp.ResourceNotFoundError(req.Params.URI)
		}
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{
			URI:      uri,
			MIMEType: "text/plain",
			Text:     "Demo server " + name,
		}}}, nil
	}
}

func itemResource(name string) mcp.ResourceHandler {
	prefix := itemsPrefix(name)
	return func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		uri := req.Params.URI
		rawID, ok := strings.CutPrefix(uri, prefix)
		if !ok || rawID == "" || strings.Contains(rawID, "/") {
			return nil, mcp.ResourceNotFoundError(uri)
		}
		id, err := url.PathUnescape(rawID)
		if err != nil {
			return nil, mcp.ResourceNotFoundError(uri)
		}
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{
			URI:      uri,
			MIMEType: "text/plain",
			Text:     fmt.Sprintf("item %s from %s", id, name),
		}}}, nil
	}
}

func greetPrompt(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	who := req.Params.Arguments["name"]
	if who == "" {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: `greet: missing required argument "name"`}
	}
	text := "Hello, " + who + "!"
	switch style := req.Params.Arguments["style"]; style {
	case "", "plain":
	case "shout":
		text = strings.ToUpper(text)
	default:
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("greet: unknown style %q (want %q)", style, greetStyles)}
	}
	return &mcp.GetPromptResult{
		Description: "A greeting",
		Messages: []*mcp.PromptMessage{{
			Role:    "user",
			Content: &mcp.TextContent{Text: text},
		}},
	}, nil
}

// complete completes the greet prompt's style argument; everything else has
// no completions.
func complete(_ context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
	values := []string{}
	ref := req.Params.Ref
	if ref != nil && ref.Type == "ref/prompt" && ref.Name == "greet" && req.Params.Argument.Name == "style" {
		for _, s := range greetStyles {
			if strings.HasPrefix(s, req.Params.Argument.Value) {
				values = append(values, s)
			}
		}
	}
	return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: values, Total: len(values)}}, nil
}
