package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/config/configload"
	"github.com/argusmcp/argus/host/gateway"
	"github.com/argusmcp/argus/host/request"
	"github.com/argusmcp/argus/host/telemetry"
)

const fuzzToken = "fuzz-token-0123456789abcdef"

// stubBackend serves one tool, one resource and one prompt over
// streamable HTTP in this process.
func stubBackend(tb testing.TB) string {
	s := mcp.NewServer(&mcp.Implementation{Name: "stub", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo"}, func(_ context.Context, _ *mcp.CallToolRequest, in struct {
		Message string `json:"message"`
	}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Message}}}, nil, nil
	})
	s.AddResource(&mcp.Resource{Name: "readme", URI: "stub://readme"}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: "stub://readme", Text: "hi"}}}, nil
	})
	s.AddPrompt(&mcp.Prompt{Name: "greet"}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "hi"}}}}, nil
	})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	tb.Cleanup(srv.Close)
	return srv.URL
}

// fuzzGateway is a real gateway with telemetry, bearer auth and one stub
// backend behind the /mcp handler, and a session opened on it.
func fuzzGateway(tb testing.TB) (h http.Handler, sid string, panics *request.Panics) {
	src := `backend "stub" {
  type = "streamable-http"
  url  = "` + stubBackend(tb) + `"
}
`
	cfg, diags := configload.NewParser().Load([]byte(src), "fuzz.hcl")
	if diags.HasErrors() {
		tb.Fatal(diags.Error())
	}
	tel, err := telemetry.New(telemetry.Options{SpanExporters: []sdktrace.SpanExporter{tracetest.NewNoopExporter()}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { tel.Shutdown(context.Background()) })
	gw := gateway.New(cfg, hclog.NewNullLogger(), gateway.Options{Version: "fuzz", Observers: []request.Observer{tel.Observer()}})
	if err := gw.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		gw.Close(ctx)
	})
	h = NewMCPHandler(HTTPOptions{Server: gw.Server(), Panics: gw.Panics(), Refuser: gw, SessionTimeout: time.Minute, Lean: gw.ServeLean,
		Auth: &config.Auth{Tokens: []config.Token{{UserID: "fuzz", Value: fuzzToken}}}})
	rec := fuzzPost(h, []byte(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"fuzz","version":"1"}}}`), "", "2025-11-25", "application/json", true)
	sid = rec.Header().Get("Mcp-Session-Id")
	if rec.Code != 200 || sid == "" {
		tb.Fatalf("initialize: %d %s", rec.Code, rec.Body.String())
	}
	fuzzPost(h, []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`), sid, "2025-11-25", "application/json", true)
	return h, sid, gw.Panics()
}

func fuzzPost(h http.Handler, body []byte, sid, version, ctype string, auth bool) *httptest.ResponseRecorder {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, "POST", "http://127.0.0.1/mcp", bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Accept", "application/json, text/event-stream")
	if version != "" {
		req.Header.Set("MCP-Protocol-Version", version)
	}
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
	}
	// The standard headers a client of the stateless revision sends, as
	// the body names them, so that such requests reach the lean path.
	var msg struct {
		Method string `json:"method"`
		Params struct {
			Name string `json:"name"`
			URI  string `json:"uri"`
		} `json:"params"`
	}
	if json.Unmarshal(body, &msg) == nil && msg.Method != "" {
		req.Header.Set("Mcp-Method", msg.Method)
		if n := msg.Params.Name + msg.Params.URI; n != "" {
			req.Header.Set("Mcp-Name", n)
		}
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+fuzzToken)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// FuzzMCPHandler posts arbitrary bodies with arbitrary protocol-version
// and content-type headers (and the Mcp-Method and Mcp-Name the body
// names), in the open session, in an unknown one or in none, with or
// without credentials, to the /mcp handler of a real gateway (telemetry
// on, the lean path on, one in-process backend). Nothing may panic
// anywhere on the request path (not even a panic the gateway recovers):
// every request gets an HTTP answer.
func FuzzMCPHandler(f *testing.F) {
	for _, s := range []struct {
		body    string
		session uint8
		version string
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, 1, "2025-11-25"},
		{`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"stub_echo","arguments":{"message":"x"}}}`, 1, "2025-11-25"},
		{`{"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"stub://readme"}}`, 1, "2025-11-25"},
		{`{"jsonrpc":"2.0","id":4,"method":"prompts/get","params":null}`, 1, "2025-11-25"},
		{`{"jsonrpc":"2.0","id":5,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"stub_greet"},"argument":{"name":"a","value":"b"}}}`, 1, "2025-11-25"},
		{`{"jsonrpc":"2.0","id":6,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`, 0, "2026-07-28"},
		{`{"jsonrpc":"2.0","id":7,"method":"tools/list","params":[]}`, 0, "2026-07-28"},
		{`[{"jsonrpc":"2.0","id":8,"method":"ping"}]`, 1, "2025-11-25"},
		{`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}`, 1, "2025-11-25"},
		{`{"jsonrpc":"2.0","id":9,"method":"resources/subscribe","params":{"uri":"stub://readme"}}`, 2, "2025-06-18"},
		{`{"jsonrpc":"2.0","id":{"a":1},"method":"logging/setLevel","params":{"level":"nope"}}`, 1, ""},
		{`{"jsonrpc":"2.0","id":10,"result":{}}`, 1, "2025-11-25"},
		{`{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}},"name":"stub_echo","arguments":{"message":"x"}}}`, 0, "2026-07-28"},
		{`{"jsonrpc":"2.0","id":13,"method":"resources/templates/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":null}}}`, 0, "2026-07-28"},
		{`{"jsonrpc":"2.0","id":14,"method":"prompts/list","params":{"cursor":7}}`, 1, "2025-11-25"},
	} {
		f.Add([]byte(s.body), s.session, s.version, "application/json", true)
	}
	f.Add([]byte(`{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"stub_echo"}}`), uint8(1), "2025-11-25", "application/json", false)
	f.Add([]byte("{"), uint8(0), "", "text/plain", true)

	h, sid, panics := fuzzGateway(f)
	f.Fuzz(func(t *testing.T, body []byte, session uint8, version, ctype string, auth bool) {
		s := ""
		switch session % 3 {
		case 1:
			s = sid
		case 2:
			s = "no-such-session"
		}
		rec := fuzzPost(h, body, s, version, ctype, auth)
		if rec.Code == 0 {
			t.Fatal("no HTTP status")
		}
		if n := panics.Count(); n != 0 {
			t.Fatalf("the request path panicked (%d recovered); body %q", n, body)
		}
	})
}
