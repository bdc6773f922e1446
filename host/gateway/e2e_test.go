package gateway_test

// End-to-end tests: the real argus binary in front of real demo-server
// processes, driven by the official MCP SDK client.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/internal/syncbuf"
	"github.com/argusmcp/argus/internal/testbin"
)

// hclString quotes s as an HCL string literal.
func hclString(s string) string {
	q, _ := json.Marshal(s)
	r := strings.ReplaceAll(string(q), "${", "$${")
	return strings.ReplaceAll(r, "%{", "%%{")
}

func demoStdio(tb testing.TB, name string) string {
	return fmt.Sprintf("backend %q {\n  type = \"stdio\"\n  command = %s\n  args = [\"-name\", %q]\n}\n",
		name, hclString(binPath(tb, testbin.DemoServer)), name)
}

func text(tb testing.TB, res *mcp.CallToolResult) string {
	tb.Helper()
	if len(res.Content) == 0 {
		tb.Fatalf("result has no content: %+v", res)
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		tb.Fatalf("first content is %T, want text", res.Content[0])
	}
	return tc.Text
}

func toolNames(tb testing.TB, s *mcp.ClientSession) []string {
	tb.Helper()
	res, err := s.ListTools(context.Background(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, t := range res.Tools {
		names = append(names, t.Name)
	}
	return names
}

func rpcCode(err error) int64 {
	var w *jsonrpc.Error
	if errors.As(err, &w) {
		return w.Code
	}
	return 0
}

// TestE2EAggregationWithPrefix fronts a stdio backend and a streamable-HTTP
// backend with the prefix strategy and exercises every routed method.
func TestE2EAggregationWithPrefix(t *testing.T) {
	httpURL := startDemoHTTP(t, "beta")
	url, _ := startArgus(t, demoStdio(t, "alpha")+fmt.Sprintf(`
backend "beta" {
  type = "streamable-http"
  url  = %q
  tools { deny = ["pid"] }
}
conflict_resolution { strategy = "prefix" }
`, httpURL))
	s := connect(t, url)
	ctx := context.Background()

	names := toolNames(t, s)
	for _, want := range []string{"alpha_echo", "alpha_pid", "beta_echo", "beta_add"} {
		if !slices.Contains(names, want) {
			t.Errorf("tools/list lacks %s: %v", want, names)
		}
	}
	if slices.Contains(names, "beta_pid") || slices.Contains(names, "echo") {
		t.Errorf("filtered or unprefixed tool listed: %v", names)
	}

	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "beta_add", Arguments: map[string]any{"a": 2, "b": 40}})
	if err != nil || text(t, res) != "42" {
		t.Fatalf("beta_add: %v %+v", err, res)
	}
	if sc, _ := json.Marshal(res.StructuredContent); string(sc) != `{"sum":42}` {
		t.Errorf("structured content = %s", sc)
	}

	// Lossless forwarding: _meta, every content block, structured content.
	res, err = s.CallTool(ctx, &mcp.CallToolParams{Name: "alpha_meta"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Meta["demo/server"] != "alpha" || len(res.Content) != 2 {
		t.Errorf("meta result = %+v", res)
	}
	if img, ok := res.Content[1].(*mcp.ImageContent); !ok || img.MIMEType != "image/png" || !bytes.HasPrefix(img.Data, []byte("\x89PNG")) {
		t.Errorf("image content lost: %#v", res.Content[1])
	}

	res, err = s.CallTool(ctx, &mcp.CallToolParams{Name: "beta_tool_error", Arguments: map[string]any{"message": "nope"}})
	if err != nil || !res.IsError || text(t, res) != "nope" {
		t.Errorf("tool_error: %v %+v", err, res)
	}
	_, err = s.CallTool(ctx, &mcp.CallToolParams{Name: "alpha_fail", Arguments: map[string]any{"message": "boom"}})
	if rpcCode(err) != -32001 || !strings.Contains(err.Error(), "boom") {
		t.Errorf("fail: want backend's -32001, got %v", err)
	}
	_, err = s.CallTool(ctx, &mcp.CallToolParams{Name: "gamma_echo"})
	if rpcCode(err) != -32602 {
		t.Errorf("unknown tool: %v", err)
	}

	for uri, want := range map[string]string{
		"demo://beta/readme":    "Demo server beta",
		"demo://alpha/items/17": "item 17 from alpha",
		"demo://beta/items/x":   "item x from beta",
	} {
		rr, err := s.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
		if err != nil || len(rr.Contents) != 1 || rr.Contents[0].Text != want {
			t.Errorf("read %s: %v %+v", uri, err, rr)
		}
	}
	_, err = s.ReadResource(ctx, &mcp.ReadResourceParams{URI: "demo://gamma/readme"})
	if rpcCode(err) != -32002 {
		t.Errorf("unknown resource: %v", err)
	}
	lr, err := s.ListResources(ctx, nil)
	if err != nil || len(lr.Resources) != 2 {
		t.Errorf("resources/list: %v %+v", err, lr)
	}
	lt, err := s.ListResourceTemplates(ctx, nil)
	if err != nil || len(lt.ResourceTemplates) != 2 {
		t.Errorf("resources/templates/list: %v %+v", err, lt)
	}

	pr, err := s.GetPrompt(ctx, &mcp.GetPromptParams{Name: "beta_greet", Arguments: map[string]string{"name": "Ada", "style": "shout"}})
	if err != nil || len(pr.Messages) != 1 || pr.Messages[0].Content.(*mcp.TextContent).Text != "HELLO, ADA!" {
		t.Errorf("prompt: %v %+v", err, pr)
	}
	cr, err := s.Complete(ctx, &mcp.CompleteParams{
		Ref:      &mcp.CompleteReference{Type: "ref/prompt", Name: "alpha_greet"},
		Argument: mcp.CompleteParamsArgument{Name: "style", Value: "pl"},
	})
	if err != nil || !slices.Equal(cr.Completion.Values, []string{"plain"}) {
		t.Errorf("completion: %v %+v", err, cr)
	}
	if err := s.Ping(ctx, nil); err != nil {
		t.Errorf("ping: %v", err)
	}
}

// TestE2ESSEBackend fronts a legacy HTTP+SSE backend.
func TestE2ESSEBackend(t *testing.T) {
	proc := startProc(t, "demo-server[sse]", binPath(t, testbin.DemoServer), "-sse", "127.0.0.1:0", "-name", "legacy")
	m, err := proc.WaitStderr(regexp.MustCompile(`listening on (http://\S+/sse)`), startTimeout)
	if err != nil {
		t.Fatal(err)
	}
	url, _ := startArgus(t, fmt.Sprintf(`
backend "legacy" {
  type = "sse"
  url  = %q
}
conflict_resolution { strategy = "first-wins" }
`, m[1]))
	s := connect(t, url)
	res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "over sse"}})
	if err != nil || text(t, res) != "over sse" {
		t.Fatalf("echo over SSE backend: %v %+v", err, res)
	}
}

// TestE2EStdioServe drives `argus serve -stdio` as a client would: as a
// child process speaking MCP on stdin/stdout.
func TestE2EStdioServe(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "argus.hcl")
	os.WriteFile(cfg, []byte(demoStdio(t, "alpha")+demoStdio(t, "beta")), 0o600)
	cmd := exec.Command(binPath(t, testbin.Argus), "serve", "-stdio", "-config", cfg)
	var stderr syncbuf.Buffer
	cmd.Stderr = &stderr
	client := mcp.NewClient(&mcp.Implementation{Name: "stdio-e2e", Version: "test"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	s, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatalf("connect: %v\n%s", err, stderr.String())
	}
	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "beta_echo", Arguments: map[string]any{"message": "via stdio"}})
	if err != nil || text(t, res) != "via stdio" {
		t.Errorf("beta_echo: %v %+v", err, res)
	}
	if names := toolNames(t, s); !slices.Contains(names, "alpha_pid") {
		t.Errorf("tools = %v", names)
	}
	if err := s.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	if !strings.Contains(stderr.String(), "stopped") {
		t.Errorf("argus did not shut down cleanly:\n%s", stderr.String())
	}
}

// TestE2EBackendKilledMidCall kills a stdio backend while a call to it is in
// flight: the call must fail promptly, the dead backend's tools must leave
// the catalogue (with list_changed) while the other backend keeps serving,
// and the backend must come back by itself, with list_changed again.
func TestE2EBackendKilledMidCall(t *testing.T) {
	alpha := strings.Replace(demoStdio(t, "alpha"), "type = \"stdio\"", "type = \"stdio\"\n  retry_backoff = \"2s\"", 1)
	url, _ := startArgus(t, alpha+demoStdio(t, "beta"))
	changed := make(chan struct{}, 8)
	client := mcp.NewClient(&mcp.Implementation{Name: "kill-e2e", Version: "test"}, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
	})
	ctx := context.Background()
	s, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url}, &mcp.ClientSessionOptions{ProtocolVersion: clientProtocolVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "alpha_pid"})
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(text(t, res))
	if err != nil {
		t.Fatal(err)
	}

	errc := make(chan error, 1)
	go func() {
		_, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "alpha_sleep", Arguments: map[string]any{"ms": 60000}})
		errc <- err
	}()
	time.Sleep(300 * time.Millisecond) // let the call reach the backend
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	select {
	case err := <-errc:
		if rpcCode(err) != -32010 {
			t.Errorf("in-flight call: want backend unavailable -32010, got %v", err)
		}
		if d := time.Since(killed); d > 5*time.Second {
			t.Errorf("in-flight call failed only after %v", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("in-flight call to a killed backend hangs")
	}

	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Error("no tools/list_changed after the backend died")
	}
	names := toolNames(t, s)
	if slices.Contains(names, "alpha_echo") || !slices.Contains(names, "beta_echo") {
		t.Errorf("tools after alpha died: %v", names)
	}
	_, err = s.CallTool(ctx, &mcp.CallToolParams{Name: "alpha_echo", Arguments: map[string]any{"message": "x"}})
	if rpcCode(err) != -32602 {
		t.Errorf("call to withdrawn tool: %v", err)
	}
	res, err = s.CallTool(ctx, &mcp.CallToolParams{Name: "beta_echo", Arguments: map[string]any{"message": "still here"}})
	if err != nil || text(t, res) != "still here" {
		t.Errorf("beta after alpha died: %v %+v", err, res)
	}

	// Argus restarts the process and the tools come back.
	select {
	case <-changed:
	case <-time.After(15 * time.Second):
		t.Fatal("no tools/list_changed after the backend came back")
	}
	res, err = s.CallTool(ctx, &mcp.CallToolParams{Name: "alpha_pid"})
	if err != nil {
		t.Fatalf("alpha after reconnect: %v", err)
	}
	if newPID, _ := strconv.Atoi(text(t, res)); newPID == pid || newPID == 0 {
		t.Errorf("pid after reconnect = %d (old %d)", newPID, pid)
	}
}

// TestE2EUnreachableBackendIsSkipped starts with one backend that cannot
// start; the other serves.
func TestE2EUnreachableBackendIsSkipped(t *testing.T) {
	url, proc := startArgus(t, demoStdio(t, "alpha")+`
backend "ghost" {
  type            = "stdio"
  command         = "/nonexistent/argus-ghost-backend"
  connect_retries = 1
  retry_backoff   = "10ms"
}
backend "down" {
  type            = "streamable-http"
  url             = "http://127.0.0.1:1/mcp"
  connect_retries = 0
}
`)
	s := connect(t, url)
	if names := toolNames(t, s); !slices.Contains(names, "alpha_echo") || len(names) == 0 {
		t.Errorf("tools = %v", names)
	}
	out := proc.Stderr.String()
	for _, want := range []string{`backend=ghost`, `backend=down`, "backend unavailable; serving without it"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// TestE2EConflictErrorStrategy: start-up fails with a message naming both
// backends, exit code 1.
func TestE2EConflictErrorStrategy(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "argus.hcl")
	// The listener opens before backends connect: give it a free port.
	src, _ := withListen(t, demoStdio(t, "alpha")+demoStdio(t, "beta")+`conflict_resolution { strategy = "error" }`)
	os.WriteFile(cfg, []byte(src), 0o600)
	out, err := exec.Command(binPath(t, testbin.Argus), "serve", "-config", cfg).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`tool "echo" is exposed by both backend "alpha" and backend "beta"`).Match(out) {
		t.Errorf("message does not name both backends:\n%s", out)
	}
}

// TestE2EValidate: diagnostics with file, line, snippet; exit 1.
func TestE2EValidate(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.hcl")
	os.WriteFile(bad, []byte("backend \"x\" {\n  type = \"stdio\"\n  command = \"demo\"\n  comand = \"typo\"\n}\n"), 0o600)
	out, err := exec.Command(binPath(t, testbin.Argus), "validate", "-config", bad).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v\n%s", err, out)
	}
	for _, want := range []string{"Unsupported argument", "on " + bad + " line 4", `comand = "typo"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	good := filepath.Join(dir, "good.hcl")
	os.WriteFile(good, []byte(demoStdio(t, "alpha")), 0o600)
	if out, err := exec.Command(binPath(t, testbin.Argus), "validate", "-config", good).CombinedOutput(); err != nil || !strings.Contains(string(out), "configuration is valid") {
		t.Errorf("valid config: %v\n%s", err, out)
	}
	if out, err := exec.Command(binPath(t, testbin.Argus), "frobnicate").CombinedOutput(); err == nil || !strings.Contains(string(out), `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %v\n%s", err, out)
	}
}

// rawSession initializes a session with plain HTTP and returns a function
// posting one JSON-RPC body in it.
func rawSession(t *testing.T, url string, header http.Header) func(body string) (int, string) {
	t.Helper()
	post := func(sid, body string) (*http.Response, string) { return postRaw(t, url, sid, header, body) }
	resp, body := post("", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" {
		t.Fatalf("initialize: %d %s", resp.StatusCode, body)
	}
	post(sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return func(body string) (int, string) {
		resp, b := post(sid, body)
		return resp.StatusCode, b
	}
}

// TestE2EMalformedRequests: bad JSON, bad JSON-RPC, bad params and
// oversized bodies get JSON-RPC errors, and the session keeps working.
func TestE2EMalformedRequests(t *testing.T) {
	url, proc := startArgus(t, "server {\n  max_request_bytes = 65536\n}\n"+demoStdio(t, "alpha"))
	do := rawSession(t, url, nil)
	tests := []struct {
		name, body string
		status     int
		code       string
	}{
		{"not json", `{"jsonrpc":"2.0","id":2,"method":`, 400, "-32700"},
		{"wrong params type", `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":7}}`, 200, "-32602"},
		{"missing params", `{"jsonrpc":"2.0","id":4,"method":"tools/call"}`, 400, "-32600"},
		{"unknown method", `{"jsonrpc":"2.0","id":5,"method":"tools/frobnicate","params":{}}`, 400, "-32601"},
		{"oversized", `{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"alpha_echo","arguments":{"message":"` + strings.Repeat("x", 70000) + `"}}}`, 413, "-32600"},
	}
	for _, tt := range tests {
		status, body := do(tt.body)
		if status != tt.status || !strings.Contains(body, `"code":`+tt.code) {
			t.Errorf("%s: status %d body %.300s; want %d with code %s", tt.name, status, body, tt.status, tt.code)
		}
	}
	status, body := do(`{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"alpha_echo","arguments":{"message":"fine"}}}`)
	if status != 200 || !strings.Contains(body, `"text":"fine"`) {
		t.Errorf("session broken after bad requests: %d %s", status, body)
	}
	if strings.Contains(proc.Stderr.String(), "panic") {
		t.Errorf("argus panicked:\n%s", proc.Stderr.String())
	}
}

// TestE2EAuth: 401 without a token and with a wrong one, before any backend
// is touched; the right token works; another user cannot use the session.
func TestE2EAuth(t *testing.T) {
	t.Setenv("ARGUS_E2E_ALICE", "alice-token-0123456789")
	url, _ := startArgus(t, `
auth {
  token "alice" { value = env("ARGUS_E2E_ALICE") }
  token "bob"   { value = "bob-token-0123456789abc" }
}
`+demoStdio(t, "alpha"))
	for _, auth := range []string{"", "Bearer wrong-token-0123456789", "Basic YWxpY2U6eA=="} {
		req, _ := http.NewRequest("POST", url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("auth %q: status %d", auth, resp.StatusCode)
		}
	}

	alice := rawSession(t, url, http.Header{"Authorization": {"Bearer alice-token-0123456789"}})
	status, body := alice(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"alpha_echo","arguments":{"message":"hi alice"}}}`)
	if status != 200 || !strings.Contains(body, "hi alice") {
		t.Errorf("alice: %d %s", status, body)
	}
}
