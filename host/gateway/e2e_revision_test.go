package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// statelessPost sends one 2026-07-28 request (no session, protocol
// version and capabilities in _meta, standard headers set) and returns the
// HTTP status and the JSON-RPC response, taken from a JSON body or from
// the SSE event carrying it.
func statelessPost(t *testing.T, url, method, name, params string, header map[string]string) (int, map[string]any) {
	t.Helper()
	return statelessPostCaps(t, url, `{"sampling":{},"elicitation":{},"roots":{}}`, method, name, params, header)
}

// statelessPostCaps is statelessPost with the client capabilities (a JSON
// object) the request declares.
func statelessPostCaps(t *testing.T, url, caps, method, name, params string, header map[string]string) (int, map[string]any) {
	t.Helper()
	status, body := statelessPostRaw(t, url, caps, "", method, name, params, header)
	return status, rpcMessage(t, body)
}

// statelessPostRaw is statelessPostCaps with further _meta members
// (extraMeta: JSON members such as `"progressToken":"p"`, or "") that
// returns the whole response body (JSON, or SSE with any notifications).
func statelessPostRaw(t *testing.T, url, caps, extraMeta, method, name, params string, header map[string]string) (int, string) {
	t.Helper()
	if extraMeta != "" {
		extraMeta = "," + extraMeta
	}
	meta := `{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":` + caps + `,"io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"},"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"` + extraMeta + `}`
	status, _, body := statelessPostMeta(t, url, meta, method, name, params, header)
	return status, body
}

// statelessPostMeta is statelessPostRaw with the whole _meta object
// given, returning the response's headers as well.
func statelessPostMeta(t *testing.T, url, meta, method, name, params string, header map[string]string) (int, http.Header, string) {
	t.Helper()
	meta = `"_meta":` + meta
	if params == "" {
		params = "{" + meta + "}"
	} else {
		params = "{" + meta + "," + params + "}"
	}
	body := `{"jsonrpc":"2.0","id":7,"method":"` + method + `","params":` + params + `}`
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", method)
	if name != "" {
		req.Header.Set("Mcp-Name", name)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// rpcMessage decodes a JSON-RPC response from a JSON or SSE body.
func rpcMessage(t *testing.T, body string) map[string]any {
	t.Helper()
	raw := body
	for _, line := range strings.Split(body, "\n") {
		if d, ok := strings.CutPrefix(line, "data: "); ok && strings.Contains(d, `"id"`) {
			raw = d
		}
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(raw)), &m); err != nil {
		t.Fatalf("not a JSON-RPC message: %v\n%s", err, body)
	}
	return m
}

// TestE2ERevisionShaping: a 2026-07-28 client gets results valid for its
// revision (resultType, cache hints, Argus's own serverInfo) from a backend
// on an older session, and a 2025-06-18 client gets none of those fields.
func TestE2ERevisionShaping(t *testing.T) {
	url, _ := startArgus(t, demoStdio(t, "alpha"))

	status, msg := statelessPost(t, url, "tools/call", "alpha_echo", `"name":"alpha_echo","arguments":{"message":"hi"}`, nil)
	res, _ := msg["result"].(map[string]any)
	if status != 200 || res == nil {
		t.Fatalf("tools/call: %d %v", status, msg)
	}
	if res["resultType"] != "complete" {
		t.Errorf("tools/call resultType = %v, want complete: %v", res["resultType"], res)
	}
	info, _ := res["_meta"].(map[string]any)["io.modelcontextprotocol/serverInfo"].(map[string]any)
	if info["name"] != "argus" {
		t.Errorf("tools/call _meta serverInfo = %v, want Argus", info)
	}

	status, msg = statelessPost(t, url, "prompts/get", "alpha_greet", `"name":"alpha_greet","arguments":{"name":"x"}`, nil)
	if res, _ := msg["result"].(map[string]any); status != 200 || res["resultType"] != "complete" {
		t.Errorf("prompts/get: %d %v", status, msg)
	}

	for _, method := range []string{"tools/list", "prompts/list", "resources/list", "resources/templates/list"} {
		status, msg := statelessPost(t, url, method, "", "", nil)
		res, _ := msg["result"].(map[string]any)
		if status != 200 || res["cacheScope"] != "public" || res["ttlMs"] != 10000.0 || res["resultType"] != "complete" {
			t.Errorf("%s: %d cacheScope %v ttlMs %v resultType %v", method, status, res["cacheScope"], res["ttlMs"], res["resultType"])
		}
	}

	do := rawSession(t, url, nil)
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"alpha_echo","arguments":{"message":"hi"}}}`,
		`{"jsonrpc":"2.0","id":4,"method":"prompts/get","params":{"name":"alpha_greet","arguments":{"name":"x"}}}`,
		`{"jsonrpc":"2.0","id":5,"method":"resources/list","params":{}}`,
	} {
		status, got := do(body)
		if status != 200 || !strings.Contains(got, `"result"`) {
			t.Errorf("2025-06-18 %s: %d %s", body, status, got)
		}
		for _, field := range []string{"resultType", "ttlMs", "cacheScope", "io.modelcontextprotocol/serverInfo"} {
			if strings.Contains(got, `"`+field+`"`) {
				t.Errorf("2025-06-18 answer carries %s: %s", field, got)
			}
		}
	}

	// A resource that does not exist: -32602 for a 2026-07-28 client
	// (SEP-2164), -32002 for an older one.
	_, msg = statelessPost(t, url, "resources/read", "demo://none", `"uri":"demo://none"`, nil)
	if e, _ := msg["error"].(map[string]any); e["code"] != -32602.0 {
		t.Errorf("2026-07-28 resources/read of no resource: %v, want -32602", msg)
	}
	if _, got := do(`{"jsonrpc":"2.0","id":6,"method":"resources/read","params":{"uri":"demo://none"}}`); !strings.Contains(got, `-32002`) {
		t.Errorf("2025-06-18 resources/read of no resource: %s, want -32002", got)
	}
}

// TestE2ERevisionBackendMeta: a 2026-07-28 client's call reaches a
// backend on an older HTTP session without the stateless-only _meta keys
// (a stateful go-sdk server refuses those with -32022), with its trace
// context intact; and a backend request for a capability the client did
// not declare ends the call with -32021 naming it, HTTP 400.
func TestE2ERevisionBackendMeta(t *testing.T) {
	backendURL := startDemoHTTP(t, "remote")
	url, _ := startArgus(t, fmt.Sprintf("backend \"remote\" {\n  type = \"streamable-http\"\n  url  = %q\n}\n", backendURL))

	status, msg := statelessPost(t, url, "tools/call", "remote_echo", `"name":"remote_echo","arguments":{"message":"hi"}`, nil)
	res, _ := msg["result"].(map[string]any)
	if status != 200 || res == nil || res["isError"] == true {
		t.Fatalf("tools/call over an older HTTP session: %d %v", status, msg)
	}
	status, msg = statelessPost(t, url, "tools/call", "remote_traceparent", `"name":"remote_traceparent","arguments":{}`, nil)
	if b, _ := json.Marshal(msg); status != 200 || !strings.Contains(string(b), "0af7651916cd43dd8448eb211c80319c") {
		t.Errorf("trace context did not reach the backend: %d %s", status, b)
	}

	for _, tc := range []struct{ tool, args, caps, want string }{
		{"remote_ask", `{"question":"q"}`, `{"elicitation":{}}`, "sampling"},
		{"remote_confirm", `{"message":"ok?"}`, `{"sampling":{}}`, "elicitation"},
		{"remote_roots", `{}`, `{}`, "roots"},
	} {
		status, msg := statelessPostCaps(t, url, tc.caps, "tools/call", tc.tool, `"name":"`+tc.tool+`","arguments":`+tc.args, nil)
		e, _ := msg["error"].(map[string]any)
		data, _ := e["data"].(map[string]any)
		req, _ := data["requiredCapabilities"].(map[string]any)
		if status != 400 || e["code"] != -32021.0 || req[tc.want] == nil {
			t.Errorf("%s without %s: HTTP %d %v, want 400 and -32021 naming %s", tc.tool, tc.want, status, msg, tc.want)
		}
	}
}
