package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Tools that make the server talk back to its client during a call, for
// exercising a gateway's relaying of server-initiated messages.

type askInput struct {
	Question  string `json:"question" jsonschema:"what to ask the client's model"`
	TimeoutMS int    `json:"timeout_ms,omitempty" jsonschema:"give up on the answer after this many milliseconds (default: wait)"`
	Progress  bool   `json:"progress,omitempty" jsonschema:"notify progress 1/2 before asking and 2/2 after the answer (with a progress token)"`
}

type surveyInput struct {
	Motto bool `json:"motto,omitempty" jsonschema:"also ask the client's model for a motto (sampling) in the same round"`
}

type confirmInput struct {
	Message string `json:"message" jsonschema:"what to ask the user"`
}

type logInput struct {
	Level   string `json:"level,omitempty" jsonschema:"MCP log level (default info)"`
	Message string `json:"message" jsonschema:"the log message"`
}

type addToolInput struct {
	Name string `json:"name" jsonschema:"name of the tool to add"`
}

func addRelayTools(server *mcp.Server, name string) {
	mcp.AddTool(server, &mcp.Tool{
		Name:        "ask",
		Description: "Ask the client's model a question (sampling/createMessage) and return its answer.",
	}, func(ctx context.Context, req *mcp.CallToolRequest, in askInput) (*mcp.CallToolResult, any, error) {
		if in.TimeoutMS > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Duration(in.TimeoutMS)*time.Millisecond)
			defer cancel()
		}
		progress := func(n float64) {
			if tok := req.Params.GetProgressToken(); in.Progress && tok != nil {
				req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: n, Total: 2})
			}
		}
		progress(1)
		res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{
			Messages:  []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: in.Question}}},
			MaxTokens: 100,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("sampling: %w", err)
		}
		progress(2)
		answer := ""
		if tc, ok := res.Content.(*mcp.TextContent); ok {
			answer = tc.Text
		}
		return textResult(fmt.Sprintf("sampled: %s", answer)), nil, nil
	})
	mcp.AddTool(server, &mcp.Tool{
		Name:        "confirm",
		Description: "Ask the user to confirm (elicitation/create) and return the answer.",
	}, func(ctx context.Context, req *mcp.CallToolRequest, in confirmInput) (*mcp.CallToolResult, any, error) {
		res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{
			Message: in.Message,
			RequestedSchema: map[string]any{
				"type":       "object",
				"properties": map[string]any{"confirm": map[string]any{"type": "boolean"}},
			},
		})
		if err != nil {
			return nil, nil, fmt.Errorf("elicitation: %w", err)
		}
		content, _ := json.Marshal(res.Content)
		return textResult(fmt.Sprintf("action: %s content: %s", res.Action, content)), nil, nil
	})
	mcp.AddTool(server, &mcp.Tool{
		Name: "survey",
		Description: "Ask the user's name (elicitation, input key \"user_name\") and optionally the model for a motto " +
			"(sampling, key \"motto\") as a multi-round-trip result (SEP-2322), then greet.",
	}, func(ctx context.Context, req *mcp.CallToolRequest, in surveyInput) (*mcp.CallToolResult, any, error) {
		return survey(req.Params.InputResponses, in.Motto), nil, nil
	})
	mcp.AddTool(server, &mcp.Tool{
		Name:        "roots",
		Description: "List the client's roots (roots/list) as a comma-separated list of URIs.",
	}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		res, err := req.Session.ListRoots(ctx, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("roots: %w", err)
		}
		var uris []string
		for _, r := range res.Roots {
			uris = append(uris, r.URI)
		}
		return textResult(fmt.Sprintf("roots: %s", strings.Join(uris, ","))), nil, nil
	})
	mcp.AddTool(server, &mcp.Tool{
		Name:        "log",
		Description: "Send a notifications/message log entry to the client, then reply \"logged\".",
	}, func(ctx context.Context, req *mcp.CallToolRequest, in logInput) (*mcp.CallToolResult, any, error) {
		level := mcp.LoggingLevel(in.Level)
		if level == "" {
			level = "info"
		}
		if err := req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: level, Logger: name, Data: in.Message}); err != nil {
			return nil, nil, err
		}
		return textResult("logged"), nil, nil
	})
	mcp.AddTool(server, &mcp.Tool{
		Name:        "touch",
		Description: "Announce that the readme resource changed (notifications/resources/updated to subscribers).",
	}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		if err := server.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: readmeURI(name)}); err != nil {
			return nil, nil, err
		}
		return textResult("touched"), nil, nil
	})
	mcp.AddTool(server, &mcp.Tool{
		Name:        "add_tool",
		Description: "Add a tool with the given name (an echo), which makes the server send tools/list_changed.",
	}, func(ctx context.Context, req *mcp.CallToolRequest, in addToolInput) (*mcp.CallToolResult, any, error) {
		mcp.AddTool(server, &mcp.Tool{Name: in.Name, Description: "A tool added at run time."}, echoTool)
		return textResult(fmt.Sprintf("added %s", in.Name)), nil, nil
	})
}

type slowPingsInput struct {
	MS   int  `json:"ms" jsonschema:"delay every ping answer by this many milliseconds (0: no delay)"`
	Flap bool `json:"flap,omitempty" jsonschema:"delay only every other ping"`
}

// pingDelay makes the server slow to answer pings, for health-check tests.
type pingDelay struct {
	ms   atomic.Int64
	flap atomic.Bool
	n    atomic.Int64
}

func (d *pingDelay) middleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if method == "ping" {
			ms := d.ms.Load()
			if d.flap.Load() && d.n.Add(1)%2 == 0 {
				ms = 0
			}
			select {
			case <-time.After(time.Duration(ms) * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return next(ctx, method, req)
	}
}

// traceContext is what of a W3C trace context a request's _meta held.
type traceContext struct {
	Traceparent string `json:"traceparent,omitempty"`
	Tracestate  string `json:"tracestate,omitempty"`
	Baggage     string `json:"baggage,omitempty"`
	// The same from the HTTP request's headers (streamable HTTP only).
	HeaderTraceparent string `json:"header_traceparent,omitempty"`
	HeaderTracestate  string `json:"header_tracestate,omitempty"`
	HeaderBaggage     string `json:"header_baggage,omitempty"`
}

func addTraceTool(server *mcp.Server) {
	mcp.AddTool(server, &mcp.Tool{
		Name:        "traceparent",
		Description: "Return the W3C traceparent this request carried in params._meta (empty if none); structured: the traceparent, tracestate and baggage it carried, in _meta and (over HTTP) in its headers.",
	}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, traceContext, error) {
		meta := req.Params.GetMeta()
		var tc traceContext
		tc.Traceparent, _ = meta["traceparent"].(string)
		tc.Tracestate, _ = meta["tracestate"].(string)
		tc.Baggage, _ = meta["baggage"].(string)
		if req.Extra != nil && req.Extra.Header != nil {
			h := req.Extra.Header
			tc.HeaderTraceparent, tc.HeaderTracestate, tc.HeaderBaggage = h.Get("Traceparent"), h.Get("Tracestate"), h.Get("Baggage")
		}
		return textResult(tc.Traceparent), tc, nil
	})
}

// addCapabilitiesTool adds the tool that shows which client capabilities
// a request's server sees: those the request declares in _meta (the
// stateless revision, or a gateway passing its client's on), else its
// session's.
func addCapabilitiesTool(server *mcp.Server) {
	mcp.AddTool(server, &mcp.Tool{
		Name:        "client_capabilities",
		Description: "Return, as JSON text, the client capabilities this request's server sees: those declared in params._meta, else the session's (null if none).",
	}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		b, err := json.Marshal(req.ClientCapabilities())
		if err != nil {
			return nil, nil, err
		}
		return textResult(string(b)), nil, nil
	})
}

func addPingDelayTool(server *mcp.Server) {
	d := &pingDelay{}
	server.AddReceivingMiddleware(d.middleware)
	mcp.AddTool(server, &mcp.Tool{
		Name:        "slow_pings",
		Description: "Delay answers to ping (all, or every other one with flap) by ms milliseconds.",
	}, func(ctx context.Context, req *mcp.CallToolRequest, in slowPingsInput) (*mcp.CallToolResult, any, error) {
		d.ms.Store(int64(in.MS))
		d.flap.Store(in.Flap)
		return textResult(fmt.Sprintf("pings delayed by %dms (flap %v)", in.MS, in.Flap)), nil, nil
	})
}

// survey is the multi-round-trip tool: an InputRequiredResult until the
// retry carries every answer, then the greeting. The SDK sends the input
// requests as plain requests to clients of older revisions.
func survey(answers mcp.InputResponseMap, motto bool) *mcp.CallToolResult {
	name, _ := answers["user_name"].(*mcp.ElicitResult)
	sampled, _ := answers["motto"].(*mcp.CreateMessageResult)
	if sr, ok := answers["motto"].(*mcp.CreateMessageWithToolsResult); ok && len(sr.Content) > 0 {
		sampled = &mcp.CreateMessageResult{Content: sr.Content[0]}
	}
	reqs := mcp.InputRequestMap{}
	if name == nil || name.Action != "accept" {
		reqs["user_name"] = &mcp.ElicitParams{
			Message: "What is your name?",
			RequestedSchema: map[string]any{
				"type":       "object",
				"properties": map[string]any{"name": map[string]any{"type": "string"}},
				"required":   []any{"name"},
			},
		}
	}
	if motto && sampled == nil {
		reqs["motto"] = &mcp.CreateMessageParams{
			Messages:  []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "a motto, please"}}},
			MaxTokens: 20,
		}
	}
	if len(reqs) > 0 {
		return &mcp.CallToolResult{InputRequests: reqs}
	}
	text := fmt.Sprintf("hello, %v", name.Content["name"])
	if sampled != nil {
		if tc, ok := sampled.Content.(*mcp.TextContent); ok {
			text += "; motto: " + tc.Text
		}
	}
	return textResult(text)
}
