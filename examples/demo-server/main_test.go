package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// progressLog collects progress notifications received by a client.
type progressLog struct {
	mu    sync.Mutex
	items []*mcp.ProgressNotificationParams
}

func (p *progressLog) add(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.items = append(p.items, req.Params)
}

func (p *progressLog) snapshot() []*mcp.ProgressNotificationParams {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.items)
}

// connect runs newServer(name) in-process and returns a connected client
// session plus the log of progress notifications it receives.
func connect(t *testing.T, name string) (*mcp.ClientSession, *progressLog) {
	t.Helper()
	ctx := context.Background()
	serverT, clientT := mcp.NewInMemoryTransports()
	ss, err := newServer(name).Connect(ctx, serverT, nil)
	if err != nil {
		t.Fatalf("server connect: %v", err)
	}
	progress := &progressLog{}
	client := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "0"}, &mcp.ClientOptions{
		ProgressNotificationHandler: progress.add,
	})
	cs, err := client.Connect(ctx, clientT, nil)
	if err != nil {
		t.Fatalf("client connect: %v", err)
	}
	t.Cleanup(func() {
		cs.Close()
		ss.Wait()
	})
	return cs, progress
}

func callTool(t *testing.T, cs *mcp.ClientSession, name string, args any) *mcp.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("CallTool(%s): %v", name, err)
	}
	return res
}

// onlyText returns the text of res's single text content block.
func onlyText(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	if len(res.Content) != 1 {
		t.Fatalf("got %d content blocks, want 1: %+v", len(res.Content), res.Content)
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		t.Fatalf("content[0] is %T, want *mcp.TextContent", res.Content[0])
	}
	return tc.Text
}

// structured re-encodes res.StructuredContent as compact JSON.
func structured(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatalf("marshal structured content: %v", err)
	}
	return string(b)
}

func TestListings(t *testing.T) {
	cs, _ := connect(t, "lst")
	ctx := context.Background()

	if got := cs.InitializeResult().ServerInfo.Name; got != "lst" {
		t.Errorf("server name = %q, want %q", got, "lst")
	}

	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	type schema struct {
		Type       string                     `json:"type"`
		Properties map[string]json.RawMessage `json:"properties"`
		Required   []string                   `json:"required"`
	}
	schemas := map[string]schema{}
	for _, tool := range tools.Tools {
		b, err := json.Marshal(tool.InputSchema)
		if err != nil {
			t.Fatal(err)
		}
		var s schema
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("tool %s: bad input schema %s: %v", tool.Name, b, err)
		}
		if s.Type != "object" {
			t.Errorf("tool %s: input schema type %q, want object", tool.Name, s.Type)
		}
		schemas[tool.Name] = s
	}
	want := map[string]struct{ props, required []string }{
		"echo":                {[]string{"message"}, []string{"message"}},
		"add":                 {[]string{"a", "b"}, []string{"a", "b"}},
		"slow":                {[]string{"interval_ms", "steps"}, nil},
		"sleep":               {[]string{"ms"}, []string{"ms"}},
		"fail":                {[]string{"message"}, nil},
		"tool_error":          {[]string{"message"}, nil},
		"pid":                 {nil, nil},
		"meta":                {nil, nil},
		"ask":                 {[]string{"progress", "question", "timeout_ms"}, []string{"question"}},
		"survey":              {[]string{"motto"}, nil},
		"confirm":             {[]string{"message"}, []string{"message"}},
		"roots":               {nil, nil},
		"log":                 {[]string{"level", "message"}, []string{"message"}},
		"touch":               {nil, nil},
		"add_tool":            {[]string{"name"}, []string{"name"}},
		"slow_pings":          {[]string{"flap", "ms"}, []string{"ms"}},
		"traceparent":         {nil, nil},
		"client_capabilities": {nil, nil},
	}
	if len(schemas) != len(want) {
		t.Errorf("got %d tools, want %d", len(schemas), len(want))
	}
	for name, w := range want {
		s, ok := schemas[name]
		if !ok {
			t.Errorf("tool %s missing", name)
			continue
		}
		var props []string
		for p := range s.Properties {
			props = append(props, p)
		}
		slices.Sort(props)
		slices.Sort(s.Required)
		if !slices.Equal(props, w.props) || !slices.Equal(s.Required, w.required) {
			t.Errorf("tool %s: properties %v required %v, want %v %v", name, props, s.Required, w.props, w.required)
		}
	}

	resources, err := cs.ListResources(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(resources.Resources) != 1 || resources.Resources[0].URI != "demo://lst/readme" || resources.Resources[0].MIMEType != "text/plain" {
		t.Errorf("resources = %+v", resources.Resources)
	}
	templates, err := cs.ListResourceTemplates(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(templates.ResourceTemplates) != 1 || templates.ResourceTemplates[0].URITemplate != "demo://lst/items/{id}" {
		t.Errorf("resource templates = %+v", templates.ResourceTemplates)
	}
	prompts, err := cs.ListPrompts(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(prompts.Prompts) != 1 || prompts.Prompts[0].Name != "greet" {
		t.Fatalf("prompts = %+v", prompts.Prompts)
	}
	var args []string
	for _, a := range prompts.Prompts[0].Arguments {
		args = append(args, a.Name+"="+strconv.FormatBool(a.Required))
	}
	if got := strings.Join(args, ","); got != "name=true,style=false" {
		t.Errorf("greet arguments = %s", got)
	}
}

func TestEcho(t *testing.T) {
	cs, _ := connect(t, "demo")
	for _, msg := range []string{"hello", "", "  spaces and ünïcode ✓\nnewline"} {
		res := callTool(t, cs, "echo", map[string]any{"message": msg})
		if res.IsError {
			t.Fatalf("echo %q: isError: %+v", msg, res.Content)
		}
		if got := onlyText(t, res); got != msg {
			t.Errorf("echo text = %q, want %q", got, msg)
		}
		wantJSON, _ := json.Marshal(map[string]string{"message": msg})
		if got := structured(t, res); got != string(wantJSON) {
			t.Errorf("echo structured = %s, want %s", got, wantJSON)
		}
	}
	// A missing required argument is rejected by schema validation.
	res := callTool(t, cs, "echo", map[string]any{})
	if !res.IsError {
		t.Errorf("echo without message: want isError, got %+v", res)
	}
}

func TestAdd(t *testing.T) {
	cs, _ := connect(t, "demo")
	for _, tc := range []struct {
		a, b float64
		text string
		sum  string
	}{
		{1, 2, "3", `{"sum":3}`},
		{1.5, -4, "-2.5", `{"sum":-2.5}`},
		{0.1, 0.2, "0.30000000000000004", `{"sum":0.30000000000000004}`},
	} {
		res := callTool(t, cs, "add", map[string]any{"a": tc.a, "b": tc.b})
		if res.IsError {
			t.Fatalf("add: isError: %+v", res.Content)
		}
		if got := onlyText(t, res); got != tc.text {
			t.Errorf("add(%v,%v) text = %q, want %q", tc.a, tc.b, got, tc.text)
		}
		if got := structured(t, res); got != tc.sum {
			t.Errorf("add(%v,%v) structured = %s, want %s", tc.a, tc.b, got, tc.sum)
		}
	}
	res := callTool(t, cs, "add", map[string]any{"a": "one", "b": 2})
	if !res.IsError {
		t.Errorf("add with a string: want isError, got %+v", res)
	}
}

func TestSlowProgress(t *testing.T) {
	cs, progress := connect(t, "demo")
	params := &mcp.CallToolParams{Name: "slow", Arguments: map[string]any{"steps": 3, "interval_ms": 5}}
	params.SetProgressToken("tok-1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if got := onlyText(t, res); got != "done after 3 steps" {
		t.Errorf("slow text = %q", got)
	}

	// Notifications are delivered asynchronously; wait for all of them.
	var got []*mcp.ProgressNotificationParams
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if got = progress.snapshot(); len(got) >= 3 {
			break
		}
	}
	if len(got) != 3 {
		t.Fatalf("got %d progress notifications, want 3", len(got))
	}
	for i, p := range got {
		if p.ProgressToken != "tok-1" || p.Progress != float64(i+1) || p.Total != 3 || p.Message == "" {
			t.Errorf("progress[%d] = %+v, want token tok-1, progress %d, total 3, a message", i, p, i+1)
		}
	}

	// Without a progress token, no notifications are sent; defaults apply.
	res = callTool(t, cs, "slow", map[string]any{"interval_ms": 1})
	if got := onlyText(t, res); got != "done after 5 steps" {
		t.Errorf("slow default steps text = %q", got)
	}
	time.Sleep(20 * time.Millisecond)
	if n := len(progress.snapshot()); n != 3 {
		t.Errorf("got %d progress notifications after a call without token, want still 3", n)
	}
}

func TestSlowAndSleepHonourCancellation(t *testing.T) {
	// Call the handlers directly to observe that they return the context's error.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	_, _, err := slowTool(ctx, &mcp.CallToolRequest{Params: &mcp.CallToolParamsRaw{}}, slowInput{Steps: 1000, IntervalMS: 1000})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("slow: err = %v, want context.Canceled", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, _, err = sleepTool(ctx, nil, sleepInput{MS: 60_000})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("sleep: err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancellation took %v", d)
	}

	// And over the protocol: a client-side timeout ends the call promptly.
	cs, _ := connect(t, "demo")
	callCtx, callCancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer callCancel()
	start = time.Now()
	_, err = cs.CallTool(callCtx, &mcp.CallToolParams{Name: "sleep", Arguments: map[string]any{"ms": 60_000}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("sleep over protocol: err = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancelled call took %v", d)
	}
}

func TestSleep(t *testing.T) {
	cs, _ := connect(t, "demo")
	start := time.Now()
	res := callTool(t, cs, "sleep", map[string]any{"ms": 30})
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("sleep 30ms returned after %v", d)
	}
	if got := onlyText(t, res); got != "slept" {
		t.Errorf("sleep text = %q", got)
	}
}

func TestFailIsJSONRPCError(t *testing.T) {
	cs, _ := connect(t, "demo")
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "fail", Arguments: map[string]any{"message": "boom"}})
	if err == nil {
		t.Fatalf("fail: got result %+v, want a JSON-RPC error", res)
	}
	if res != nil {
		t.Errorf("fail: got non-nil result %+v alongside error", res)
	}
	var wireErr *jsonrpc.Error
	if !errors.As(err, &wireErr) {
		t.Fatalf("fail: error %v (%T) is not a *jsonrpc.Error", err, err)
	}
	if wireErr.Code != -32001 || wireErr.Message != "boom" {
		t.Errorf("fail: code %d message %q, want -32001 %q", wireErr.Code, wireErr.Message, "boom")
	}
}

func TestToolError(t *testing.T) {
	cs, _ := connect(t, "demo")
	res := callTool(t, cs, "tool_error", map[string]any{"message": "bad input"})
	if !res.IsError {
		t.Errorf("tool_error: IsError = false")
	}
	if got := onlyText(t, res); got != "bad input" {
		t.Errorf("tool_error text = %q", got)
	}
}

func TestPID(t *testing.T) {
	cs, _ := connect(t, "demo")
	res := callTool(t, cs, "pid", map[string]any{})
	want := strconv.Itoa(os.Getpid())
	if got := onlyText(t, res); got != want {
		t.Errorf("pid text = %q, want %q", got, want)
	}
	if got := structured(t, res); got != `{"pid":`+want+`}` {
		t.Errorf("pid structured = %s", got)
	}
}

func TestMeta(t *testing.T) {
	cs, _ := connect(t, "alpha")
	res := callTool(t, cs, "meta", nil)
	if res.IsError {
		t.Fatalf("meta: isError: %+v", res.Content)
	}
	if got := res.Meta["demo/server"]; got != "alpha" {
		t.Errorf("meta _meta = %v, want demo/server=alpha", res.Meta)
	}
	if got := structured(t, res); got != `{"ok":true}` {
		t.Errorf("meta structured = %s", got)
	}
	var img *mcp.ImageContent
	for _, c := range res.Content {
		if ic, ok := c.(*mcp.ImageContent); ok {
			img = ic
		}
	}
	if img == nil {
		t.Fatalf("meta: no image content in %+v", res.Content)
	}
	if img.MIMEType != "image/png" || !bytes.Equal(img.Data, demoPNG) {
		t.Errorf("meta image: mime %q, %d bytes; want image/png, %d bytes", img.MIMEType, len(img.Data), len(demoPNG))
	}
	if _, err := png.Decode(bytes.NewReader(img.Data)); err != nil {
		t.Errorf("meta image is not a valid PNG: %v", err)
	}
}

func TestResources(t *testing.T) {
	cs, _ := connect(t, "beta")
	ctx := context.Background()
	read := func(uri string) (string, string, error) {
		res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
		if err != nil {
			return "", "", err
		}
		if len(res.Contents) != 1 {
			t.Fatalf("read %s: %d contents, want 1", uri, len(res.Contents))
		}
		c := res.Contents[0]
		if c.URI != uri {
			t.Errorf("read %s: content URI %q", uri, c.URI)
		}
		return c.Text, c.MIMEType, nil
	}

	text, mime, err := read("demo://beta/readme")
	if err != nil {
		t.Fatal(err)
	}
	if text != "Demo server beta" || mime != "text/plain" {
		t.Errorf("readme = %q (%s)", text, mime)
	}
	text, mime, err = read("demo://beta/items/42")
	if err != nil {
		t.Fatal(err)
	}
	if text != "item 42 from beta" || mime != "text/plain" {
		t.Errorf("item = %q (%s)", text, mime)
	}
	for _, uri := range []string{"demo://other/readme", "demo://other/items/1", "demo://beta/nope"} {
		if _, _, err := read(uri); err == nil {
			t.Errorf("read %s: want error", uri)
		}
	}
}

func TestGreetPrompt(t *testing.T) {
	cs, _ := connect(t, "demo")
	ctx := context.Background()
	for _, tc := range []struct {
		args map[string]string
		want string
	}{
		{map[string]string{"name": "Ada"}, "Hello, Ada!"},
		{map[string]string{"name": "Ada", "style": "plain"}, "Hello, Ada!"},
		{map[string]string{"name": "Ada", "style": "shout"}, "HELLO, ADA!"},
	} {
		res, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "greet", Arguments: tc.args})
		if err != nil {
			t.Fatalf("greet %v: %v", tc.args, err)
		}
		if len(res.Messages) != 1 || res.Messages[0].Role != "user" {
			t.Fatalf("greet %v: messages %+v", tc.args, res.Messages)
		}
		tc2, ok := res.Messages[0].Content.(*mcp.TextContent)
		if !ok || tc2.Text != tc.want {
			t.Errorf("greet %v: content %+v, want %q", tc.args, res.Messages[0].Content, tc.want)
		}
	}
	for _, args := range []map[string]string{{}, {"name": "Ada", "style": "whisper"}} {
		_, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "greet", Arguments: args})
		var wireErr *jsonrpc.Error
		if !errors.As(err, &wireErr) || wireErr.Code != jsonrpc.CodeInvalidParams {
			t.Errorf("greet %v: err = %v, want invalid params", args, err)
		}
	}
}

func TestCompletion(t *testing.T) {
	cs, _ := connect(t, "demo")
	if cs.InitializeResult().Capabilities.Completions == nil {
		t.Error("server does not advertise completions")
	}
	complete := func(ref *mcp.CompleteReference, arg, value string) []string {
		t.Helper()
		res, err := cs.Complete(context.Background(), &mcp.CompleteParams{
			Ref:      ref,
			Argument: mcp.CompleteParamsArgument{Name: arg, Value: value},
		})
		if err != nil {
			t.Fatalf("complete %s=%q: %v", arg, value, err)
		}
		return res.Completion.Values
	}
	greet := &mcp.CompleteReference{Type: "ref/prompt", Name: "greet"}
	for _, tc := range []struct {
		value string
		want  []string
	}{
		{"", []string{"plain", "shout"}},
		{"s", []string{"shout"}},
		{"pl", []string{"plain"}},
		{"x", []string{}},
	} {
		if got := complete(greet, "style", tc.value); !slices.Equal(got, tc.want) {
			t.Errorf("complete style=%q = %q, want %q", tc.value, got, tc.want)
		}
	}
	if got := complete(greet, "name", ""); len(got) != 0 {
		t.Errorf("complete name = %q, want none", got)
	}
	if got := complete(&mcp.CompleteReference{Type: "ref/resource", URI: "demo://demo/items/{id}"}, "id", ""); len(got) != 0 {
		t.Errorf("complete resource id = %q, want none", got)
	}
}

func TestRunHTTP(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	pr, pw := io.Pipe()
	runErr := make(chan error, 1)
	go func() {
		runErr <- run(ctx, []string{"-http", "127.0.0.1:0", "-name", "web"}, pw)
		pw.Close()
	}()

	// Read stderr until the "listening on" line, then keep draining it.
	endpoint := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				endpoint <- u
			}
		}
	}()
	var url string
	select {
	case url = <-endpoint:
	case err := <-runErr:
		t.Fatalf("run exited early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no listening line on stderr")
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.HasSuffix(url, "/mcp") || strings.HasSuffix(url, ":0/mcp") {
		t.Fatalf("listening URL = %q, want the real bound address", url)
	}

	client := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "0"}, nil)
	callCtx, callCancel := context.WithTimeout(ctx, 10*time.Second)
	defer callCancel()
	// A client of a session-based revision gets a stateful session.
	cs, err := client.Connect(callCtx, &mcp.StreamableClientTransport{Endpoint: url}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	if cs.ID() == "" {
		t.Error("no session id: want a stateful session")
	}
	// A client of the stateless revision is served without one.
	modern, err := client.Connect(callCtx, &mcp.StreamableClientTransport{Endpoint: url}, nil)
	if err != nil {
		t.Fatalf("connect %s (stateless revision): %v", url, err)
	}
	if v := modern.InitializeResult().ProtocolVersion; v < "2026-07-28" {
		t.Errorf("default client negotiated %s, want the stateless revision", v)
	}
	if res, err := modern.CallTool(callCtx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "stateless"}}); err != nil || res.Content[0].(*mcp.TextContent).Text != "stateless" {
		t.Errorf("stateless echo: %v", err)
	}
	modern.Close()
	if got := cs.InitializeResult().ServerInfo.Name; got != "web" {
		t.Errorf("server name = %q, want web", got)
	}
	res, err := cs.CallTool(callCtx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "over http"}})
	if err != nil {
		t.Fatalf("echo: %v", err)
	}
	if got := onlyText(t, res); got != "over http" {
		t.Errorf("echo text = %q", got)
	}

	// Shut down with the session still open: run must return cleanly.
	cancel()
	select {
	case err := <-runErr:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancellation")
	}
	cs.Close()
}

func TestRunBadFlags(t *testing.T) {
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"-nope"}, &stderr); !errors.Is(err, errUsage) {
		t.Errorf("run -nope: err = %v, want usage error", err)
	}
	if err := run(context.Background(), []string{"extra"}, &stderr); !errors.Is(err, errUsage) {
		t.Errorf("run extra: err = %v, want usage error", err)
	}
}
