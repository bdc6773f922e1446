package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// statelessMeta is a 2026-07-28 request's _meta with the given client
// capabilities and client info (JSON values; "" leaves a member out).
func statelessMeta(version, caps, info string) string {
	m := `{"io.modelcontextprotocol/protocolVersion":"` + version + `"`
	if caps != "" {
		m += `,"io.modelcontextprotocol/clientCapabilities":` + caps
	}
	if info != "" {
		m += `,"io.modelcontextprotocol/clientInfo":` + info
	}
	return m + `}`
}

// TestE2EStatelessLean: tools/call, prompts/get and resources/read of the
// stateless revision are served on the lean path (a JSON answer, where
// the SDK's stateless handler answers every request with an SSE stream),
// each with the result that revision wants (resultType, Argus's
// serverInfo, written once), an answer passed on as the backend wrote it
// included; a call that sends progress answers with an SSE stream begun
// by it; and every request the SDK would refuse is still refused as it
// refuses it.
func TestE2EStatelessLean(t *testing.T) {
	url, _ := startArgus(t, demoStdio(t, "alpha"))
	const caps = `{"sampling":{},"elicitation":{},"roots":{}}`
	const info = `{"name":"raw","version":"1"}`
	meta := statelessMeta("2026-07-28", caps, info)

	type served struct {
		method, name, params string
		want                 string // in the result's text
	}
	for _, c := range []served{
		{"tools/call", "alpha_echo", `"name":"alpha_echo","arguments":{"message":"hi there"}`, `"text":"hi there"`},
		{"tools/call", "alpha_meta", `"name":"alpha_meta","arguments":{}`, `"structuredContent"`},
		{"prompts/get", "alpha_greet", `"name":"alpha_greet","arguments":{"name":"x"}`, `"messages"`},
		{"resources/read", "demo://alpha/readme", `"uri":"demo://alpha/readme"`, `"contents"`},
	} {
		status, h, body := statelessPostMeta(t, url, meta, c.method, c.name, c.params, nil)
		if status != 200 || h.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: HTTP %d %s, want 200 application/json (the lean path)\n%s", c.method, c.name, status, h.Get("Content-Type"), body)
			continue
		}
		msg := rpcMessage(t, body)
		res, _ := msg["result"].(map[string]any)
		if res["resultType"] != "complete" || !strings.Contains(body, c.want) {
			t.Errorf("%s %s: resultType %v, want complete and %s in %s", c.method, c.name, res["resultType"], c.want, body)
		}
		info, _ := res["_meta"].(map[string]any)["io.modelcontextprotocol/serverInfo"].(map[string]any)
		if info["name"] != "argus" {
			t.Errorf("%s %s: serverInfo %v, want Argus's", c.method, c.name, info)
		}
		for _, member := range []string{`"resultType"`, `"_meta"`, `"io.modelcontextprotocol/serverInfo"`} {
			if n := strings.Count(body, member); n != 1 {
				t.Errorf("%s %s: %s written %d times: %s", c.method, c.name, member, n, body)
			}
		}
	}

	// Progress first: the answer is an SSE stream, the result its last event.
	progressMeta := strings.TrimSuffix(meta, "}") + `,"progressToken":"p1"}`
	status, h, body := statelessPostMeta(t, url, progressMeta, "tools/call", "alpha_slow", `"name":"alpha_slow","arguments":{"steps":2}`, nil)
	if status != 200 || h.Get("Content-Type") != "text/event-stream" || strings.Count(body, "notifications/progress") != 2 {
		t.Errorf("slow with a progress token: HTTP %d %s, want an SSE stream with 2 progress notifications:\n%s", status, h.Get("Content-Type"), body)
	} else if res, _ := rpcMessage(t, body)["result"].(map[string]any); res["resultType"] != "complete" {
		t.Errorf("slow with a progress token: result %v, want resultType complete", res)
	}

	// What the SDK refuses, each refused as the SDK's stateless handler
	// refuses it (HTTP status and JSON-RPC code).
	for _, c := range []struct {
		what, meta, name string
		header           map[string]string
		status           int
		code             float64
	}{
		{"an Mcp-Name that is not the tool's", meta, "alpha_other", nil, 400, float64(mcp.CodeHeaderMismatch)},
		{"no Mcp-Method", meta, "alpha_echo", map[string]string{"Mcp-Method": ""}, 400, 0},
		{"_meta naming another revision than the header", statelessMeta("2025-11-25", caps, info), "alpha_echo", nil, 400, float64(mcp.CodeHeaderMismatch)},
		{"no client capabilities", statelessMeta("2026-07-28", "", info), "alpha_echo", nil, 400, -32602},
		{"null client capabilities", statelessMeta("2026-07-28", "null", info), "alpha_echo", nil, 400, -32602},
		{"client capabilities of the wrong type", statelessMeta("2026-07-28", `"all"`, info), "alpha_echo", nil, 400, -32602},
		{"null client info", statelessMeta("2026-07-28", caps, "null"), "alpha_echo", nil, 400, -32602},
		{"client info of the wrong type", statelessMeta("2026-07-28", caps, "5"), "alpha_echo", nil, 400, -32602},
	} {
		status, _, body := statelessPostMeta(t, url, c.meta, "tools/call", c.name, `"name":"alpha_echo","arguments":{"message":"hi"}`, c.header)
		if status != c.status {
			t.Errorf("%s: HTTP %d, want %d: %s", c.what, status, c.status, body)
			continue
		}
		if c.code == 0 {
			continue // a plain-text refusal, made JSON-RPC by the transport
		}
		if e, _ := rpcMessage(t, body)["error"].(map[string]any); e["code"] != c.code {
			t.Errorf("%s: %s, want code %v", c.what, body, c.code)
		}
	}
}

// contentTypes records the Content-Type of the answer to each POST, by
// the request's Mcp-Method header.
type contentTypes struct {
	mu sync.Mutex
	m  map[string][]string
}

func (c *contentTypes) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && r.Method == http.MethodPost {
		c.mu.Lock()
		c.m[r.Header.Get("Mcp-Method")] = append(c.m[r.Header.Get("Mcp-Method")], resp.Header.Get("Content-Type"))
		c.mu.Unlock()
	}
	return resp, err
}

// TestE2EStatelessClient: a go-sdk client left to negotiate its default
// revision (2026-07-28, stateless) calls tools, reads a resource and
// gets a prompt through Argus, each on the lean path.
func TestE2EStatelessClient(t *testing.T) {
	url, _ := startArgus(t, demoStdio(t, "alpha"))
	ct := &contentTypes{m: map[string][]string{}}
	client := mcp.NewClient(&mcp.Implementation{Name: "default-client", Version: "test"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: ct}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v := s.InitializeResult().ProtocolVersion; v != "2026-07-28" {
		t.Fatalf("negotiated %q, want 2026-07-28", v)
	}
	for i := range 3 {
		res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "alpha_echo", Arguments: map[string]any{"message": "hello"}})
		if err != nil || res.IsError || len(res.Content) != 1 || res.Content[0].(*mcp.TextContent).Text != "hello" {
			t.Fatalf("call %d: %v %+v", i, err, res)
		}
	}
	if _, err := s.ReadResource(ctx, &mcp.ReadResourceParams{URI: "demo://alpha/readme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetPrompt(ctx, &mcp.GetPromptParams{Name: "alpha_greet", Arguments: map[string]string{"name": "x"}}); err != nil {
		t.Fatal(err)
	}
	ct.mu.Lock()
	defer ct.mu.Unlock()
	for _, method := range []string{"tools/call", "resources/read", "prompts/get"} {
		got := ct.m[method]
		if len(got) == 0 {
			t.Errorf("%s: no request seen", method)
		}
		for _, c := range got {
			if c != "application/json" {
				t.Errorf("%s answered as %v, want application/json every time (the lean path)", method, got)
				break
			}
		}
	}
}

// TestE2EStatelessLeanAnswersAsTheSDK sends odd stateless tools/call,
// resources/read and prompts/get requests twice: as a plain message,
// which the lean path may take, and with an extra member, which makes it
// no plain message, so the SDK's stateless handler serves it as before.
// Both forms must get the same HTTP status and JSON-RPC answer, and
// leave the backend's process running.
func TestE2EStatelessLeanAnswersAsTheSDK(t *testing.T) {
	url, _ := startArgus(t, demoStdio(t, "alpha"))
	meta := `"_meta":` + statelessMeta("2026-07-28", `{"roots":{}}`, `{"name":"probe","version":"1"}`)
	metaWith := func(more string) string { return strings.TrimSuffix(meta, "}") + "," + more + "}" }
	post := func(body, method, name string) (int, string, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("MCP-Protocol-Version", "2026-07-28")
		req.Header.Set("Mcp-Method", method)
		req.Header.Set("Mcp-Name", name)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = io.Copy(&b, resp.Body)
		if !strings.Contains(b.String(), `"jsonrpc"`) {
			return resp.StatusCode, resp.Header.Get("Content-Type"), map[string]any{"plain": strings.TrimSpace(b.String())}
		}
		return resp.StatusCode, resp.Header.Get("Content-Type"), rpcMessage(t, b.String())
	}
	pid := func() any {
		_, _, m := post(`{"jsonrpc":"2.0","id":"pid","method":"tools/call","params":{`+meta+`,"name":"alpha_pid","arguments":{}}}`, "tools/call", "alpha_pid")
		if m["result"] == nil {
			t.Fatalf("alpha_pid: %v", m)
		}
		return m["result"]
	}
	backendPID := pid()
	type probe struct{ method, name, params string }
	cases := map[string]probe{
		"echo":                  {"tools/call", "alpha_echo", `{` + meta + `,"name":"alpha_echo","arguments":{"message":"m"}}`},
		"no params":             {"tools/call", "alpha_echo", ``},
		"null params":           {"tools/call", "alpha_echo", `null`},
		"params without meta":   {"tools/call", "alpha_echo", `{"name":"alpha_echo","arguments":{"message":"m"}}`},
		"name number":           {"tools/call", "7", `{` + meta + `,"name":7}`},
		"arguments string":      {"tools/call", "alpha_echo", `{` + meta + `,"name":"alpha_echo","arguments":"hi"}`},
		"arguments null":        {"tools/call", "alpha_echo", `{` + meta + `,"name":"alpha_echo","arguments":null}`},
		"wrong-type message":    {"tools/call", "alpha_echo", `{` + meta + `,"name":"alpha_echo","arguments":{"message":5}}`},
		"escaped name":          {"tools/call", "alpha_echo", `{` + meta + `,"name":"alpha_\u0065cho","arguments":{"message":"\u00e9"}}`},
		"case of members":       {"tools/call", "alpha_echo", `{` + meta + `,"Name":"alpha_echo","Arguments":{"message":"m"}}`},
		"unknown tool":          {"tools/call", "alpha_nope", `{` + meta + `,"name":"alpha_nope","arguments":{}}`},
		"tool error":            {"tools/call", "alpha_tool_error", `{` + meta + `,"name":"alpha_tool_error","arguments":{"message":"bad"}}`},
		"backend error":         {"tools/call", "alpha_fail", `{` + meta + `,"name":"alpha_fail","arguments":{"message":"bad"}}`},
		"meta result":           {"tools/call", "alpha_meta", `{` + meta + `,"name":"alpha_meta","arguments":{}}`},
		"log level":             {"tools/call", "alpha_echo", `{` + metaWith(`"io.modelcontextprotocol/logLevel":"debug"`) + `,"name":"alpha_echo","arguments":{"message":"m"}}`},
		"log level number":      {"tools/call", "alpha_echo", `{` + metaWith(`"io.modelcontextprotocol/logLevel":5`) + `,"name":"alpha_echo","arguments":{"message":"m"}}`},
		"client info missing":   {"tools/call", "alpha_echo", `{"_meta":` + statelessMeta("2026-07-28", `{}`, "") + `,"name":"alpha_echo","arguments":{"message":"m"}}`},
		"client info array":     {"tools/call", "alpha_echo", `{"_meta":` + statelessMeta("2026-07-28", `{}`, `[]`) + `,"name":"alpha_echo","arguments":{"message":"m"}}`},
		"capabilities array":    {"tools/call", "alpha_echo", `{"_meta":` + statelessMeta("2026-07-28", `[]`, "") + `,"name":"alpha_echo","arguments":{"message":"m"}}`},
		"version number":        {"tools/call", "alpha_echo", `{"_meta":{"io.modelcontextprotocol/protocolVersion":20260728,"io.modelcontextprotocol/clientCapabilities":{}},"name":"alpha_echo","arguments":{"message":"m"}}`},
		"readme":                {"resources/read", "demo://alpha/readme", `{` + meta + `,"uri":"demo://alpha/readme"}`},
		"template":              {"resources/read", "demo://alpha/items/5", `{` + meta + `,"uri":"demo://alpha/items/5"}`},
		"unknown resource":      {"resources/read", "demo://alpha/nope", `{` + meta + `,"uri":"demo://alpha/nope"}`},
		"uri null":              {"resources/read", "", `{` + meta + `,"uri":null}`},
		"greet":                 {"prompts/get", "alpha_greet", `{` + meta + `,"name":"alpha_greet","arguments":{"name":"Ada"}}`},
		"greet without args":    {"prompts/get", "alpha_greet", `{` + meta + `,"name":"alpha_greet"}`},
		"prompt argument int":   {"prompts/get", "alpha_greet", `{` + meta + `,"name":"alpha_greet","arguments":{"name":5}}`},
		"unknown prompt":        {"prompts/get", "alpha_nope", `{` + meta + `,"name":"alpha_nope"}`},
		"sampling not declared": {"tools/call", "alpha_ask", `{` + meta + `,"name":"alpha_ask","arguments":{"question":"q"}}`},
	}
	for _, m := range []string{"tools/list", "prompts/list", "resources/list", "resources/templates/list"} {
		cases[m] = probe{m, "", `{` + meta + `}`}
		cases[m+" named"] = probe{m, "x", `{` + meta + `}`}
		cases[m+" bad cursor"] = probe{m, "", `{` + meta + `,"cursor":"x"}`}
		cases[m+" no params"] = probe{m, "", ``}
		cases[m+" without meta"] = probe{m, "", `{}`}
	}
	cases["complete"] = probe{"completion/complete", "", `{` + meta + `,"ref":{"type":"ref/prompt","name":"alpha_greet"},"argument":{"name":"style","value":"s"}}`}
	cases["complete unknown prompt"] = probe{"completion/complete", "", `{` + meta + `,"ref":{"type":"ref/prompt","name":"alpha_nope"},"argument":{"name":"style","value":"s"}}`}
	cases["complete without ref"] = probe{"completion/complete", "", `{` + meta + `,"argument":{"name":"style","value":"s"}}`}
	served := map[string]bool{"echo": true, "escaped name": true, "readme": true, "template": true, "greet": true, "meta result": true,
		"tools/list": true, "prompts/list": true, "resources/list": true, "resources/templates/list": true, "complete": true}
	n := 0
	for name, c := range cases {
		n++
		params := ""
		if c.params != "" {
			params = `,"params":` + c.params
		}
		type answer struct {
			Status int
			Msg    map[string]any
		}
		var answers [2]answer
		for i, extra := range []string{``, `,"x-odd":1`} {
			id := fmt.Sprintf(`"%s-%d"`, []string{"lean", "sdk"}[i], n)
			status, ct, m := post(`{"jsonrpc":"2.0","id":`+id+`,"method":"`+c.method+`"`+params+extra+`}`, c.method, c.name)
			if served[name] {
				if want := []string{"application/json", "text/event-stream"}[i]; ct != want {
					t.Errorf("%s (form %d): Content-Type %q, want %q", name, i, ct, want)
				}
			}
			delete(m, "id")
			answers[i] = answer{status, m}
		}
		if !reflect.DeepEqual(answers[0], answers[1]) {
			a, _ := json.Marshal(answers[0])
			b, _ := json.Marshal(answers[1])
			t.Errorf("%s:\nlean form: %.500s\nSDK form:  %.500s", name, a, b)
		}
	}
	if now := pid(); !reflect.DeepEqual(now, backendPID) {
		t.Errorf("the backend's process changed from %v to %v: a request ended it", backendPID, now)
	}
}

// TestE2EStatelessSessionsLogQuietly: the MCP SDK's lines about a
// session that lives for one stateless request are logged at debug (three
// per request at info before), while a stateful session's opening is
// still logged at info with its id.
func TestE2EStatelessSessionsLogQuietly(t *testing.T) {
	url, proc := startArgus(t, demoStdio(t, "alpha"))
	for range 3 {
		if status, msg := statelessPost(t, url, "tools/call", "alpha_echo", `"name":"alpha_echo","arguments":{"message":"x"}`, nil); status != 200 || msg["result"] == nil {
			t.Fatalf("stateless call: %d %v", status, msg)
		}
		if status, _ := statelessPost(t, url, "tools/list", "", "", nil); status != 200 {
			t.Fatalf("stateless list: %d", status)
		}
	}
	s := connect(t, url)
	waitFor(t, 10*time.Second, "the stateful session's line", func() bool {
		return strings.Contains(proc.Stderr.String(), `server session connected: session_id=`+s.ID())
	})
	log := proc.Stderr.String()
	for _, quiet := range []string{"server connecting", `server session connected: session_id=""`, `server session disconnected: session_id=""`} {
		if strings.Contains(log, quiet) {
			t.Errorf("the log at info has %q:\n%s", quiet, log)
		}
	}
}

// TestE2EStatelessDeclaredCapabilities: the client capabilities a
// stateless client declares reach the backend as a client calling it
// directly would have them seen, whether the declaration is new or one
// Argus decoded before (revision.Declared keeps them by content), in any
// member order or spacing, and each distinct declaration as itself.
func TestE2EStatelessDeclaredCapabilities(t *testing.T) {
	direct := startDemoHTTP(t, "alpha")
	url, _ := startArgus(t, demoStdio(t, "alpha"))
	const info = `{"name":"raw","version":"1"}`
	seen := func(url, tool, caps string) string {
		t.Helper()
		status, _, body := statelessPostMeta(t, url, statelessMeta("2026-07-28", caps, info), "tools/call", tool, `"name":"`+tool+`","arguments":{}`, nil)
		res, _ := rpcMessage(t, body)["result"].(map[string]any)
		content, _ := res["content"].([]any)
		if status != 200 || len(content) != 1 {
			t.Fatalf("%s with %s: HTTP %d %s", tool, caps, status, body)
		}
		return content[0].(map[string]any)["text"].(string)
	}
	const a = `{"sampling":{},"roots":{"listChanged":true},"experimental":{"x":{"y":[1,"<&>"]}}}`
	const aAgain = `{ "roots": {"listChanged": true}, "experimental": {"x": {"y": [1.0, "<&>"]}}, "sampling": {} }`
	const b = `{"elicitation":{"form":{}},"roots":{}}`
	const c = `{}`
	views := map[string]string{}
	for _, caps := range []string{a, b, aAgain, c, a, b, c} {
		got, want := seen(url, "alpha_client_capabilities", caps), seen(direct, "client_capabilities", caps)
		if got != want {
			t.Errorf("declared %s: the backend saw %s through Argus, %s directly", caps, got, want)
		}
		views[caps] = got
	}
	if views[a] != views[aAgain] {
		t.Errorf("one declaration in two forms seen apart: %s and %s", views[a], views[aAgain])
	}
	if views[a] == views[b] || views[b] == views[c] || views[a] == views[c] {
		t.Errorf("distinct declarations seen alike: %v", views)
	}
	if !strings.Contains(views[a], `"listChanged":true`) || !strings.Contains(views[b], `"elicitation"`) {
		t.Errorf("declarations not seen: %v", views)
	}
}

// TestE2EStatelessRequestsAreNoSessions: while requests of the stateless
// revision are being served, the management API counts them under
// stateless_requests, not as sessions (each has a session of the SDK's,
// without an id, for its duration: /sessions used to list them, with id
// ""), beside a stateful client's session, which it lists.
func TestE2EStatelessRequestsAreNoSessions(t *testing.T) {
	url, _ := startArgus(t, mgmtBlock+demoStdio(t, "alpha"))
	stateful := connect(t, url)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			statelessPost(t, url, "tools/call", "alpha_sleep", `"name":"alpha_sleep","arguments":{"ms":1500}`, nil)
		})
	}
	var st struct {
		Sessions          int `json:"sessions"`
		StatelessRequests int `json:"stateless_requests"`
	}
	waitFor(t, 10*time.Second, "three stateless requests in flight", func() bool {
		mgmt(t, url, "GET", "/status", mgmtToken, &st)
		return st.StatelessRequests == 3
	})
	var list struct{ Sessions []struct{ ID string } }
	mgmt(t, url, "GET", "/sessions", mgmtToken, &list)
	if st.Sessions != 1 || len(list.Sessions) != 1 || list.Sessions[0].ID != stateful.ID() {
		t.Errorf("with one stateful session and 3 stateless requests: status counts %d sessions, /sessions lists %+v; want the stateful one alone", st.Sessions, list.Sessions)
	}
	wg.Wait()
	waitFor(t, 5*time.Second, "no stateless request in flight", func() bool {
		mgmt(t, url, "GET", "/status", mgmtToken, &st)
		return st.StatelessRequests == 0
	})
}

// TestE2EClientMistakesLogQuietly: what a client does wrong and is told
// (a batch before initialize, a second initialize) and a list_changed
// with no stream to carry it to a session without a GET stream are logged
// at debug: the MCP SDK logs them at ERROR and WARN, and any client could
// fill the log with them at will.
func TestE2EClientMistakesLogQuietly(t *testing.T) {
	url, proc := startArgus(t, mgmtBlock+demoStdio(t, "alpha"))
	version := http.Header{"Mcp-Protocol-Version": {clientProtocolVersion}}
	rawPost(t, url, "", version, `[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]`)
	// A session without a GET stream, initialized twice.
	initBody := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"` + clientProtocolVersion + `","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	resp, _ := postRaw(t, url, "", version, initBody)
	sid := resp.Header.Get("Mcp-Session-Id")
	rawPost(t, url, sid, version, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	rawPost(t, url, sid, version, initBody)
	// A catalogue change: list_changed for every session.
	if code := mgmt(t, url, "POST", "/reconnect/alpha", mgmtToken, nil); code != http.StatusAccepted {
		t.Fatalf("reconnect: %d", code)
	}
	waitFor(t, 10*time.Second, "the backend back", func() bool {
		return strings.Count(proc.Stderr.String(), "to=Ready") >= 2
	})
	time.Sleep(500 * time.Millisecond) // the notifications go out after the catalogue changed
	log := proc.Stderr.String()
	for _, quiet := range []string{"method invalid during initialization", "duplicate initialize request", "undelivered message"} {
		if strings.Contains(log, quiet) {
			t.Errorf("the log at info has %q:\n%s", quiet, log)
		}
	}
}
