package transport

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/request"
)

// TestRefusalsAreJSONRPC: every refusal, by Argus or by the SDK's
// transport, is a JSON-RPC error object (Content-Type application/json)
// with the refusal's HTTP status; valid JSON that is no JSON-RPC message is
// an invalid request (-32600), not a parse error.
func TestRefusalsAreJSONRPC(t *testing.T) {
	srv := mcpServer(t, HTTPOptions{})
	tests := []struct {
		name, method, body string
		hdr                map[string]string
		status, code       int
		id                 string
	}{
		{"empty object", "POST", `{}`, nil, 400, request.CodeInvalidRequest, "null"},
		{"string", "POST", `"x"`, nil, 400, request.CodeInvalidRequest, "null"},
		{"number", "POST", `42`, nil, 400, request.CodeInvalidRequest, "null"},
		{"null", "POST", `null`, nil, 400, request.CodeInvalidRequest, "null"},
		{"empty batch", "POST", `[]`, nil, 400, request.CodeInvalidRequest, "null"},
		{"batch of junk", "POST", `[1,2]`, nil, 400, request.CodeInvalidRequest, "null"},
		{"method not a string", "POST", `{"jsonrpc":"2.0","id":1,"method":5}`, nil, 400, request.CodeInvalidRequest, "null"},
		{"not JSON", "POST", `{"jsonrpc":`, nil, 400, request.CodeParseError, "null"},
		{"wrong content type", "POST", initBody, map[string]string{"Content-Type": "text/plain"}, 415, request.CodeInvalidRequest, "null"},
		{"unknown session", "POST", `{"jsonrpc":"2.0","id":3,"method":"tools/list"}`, map[string]string{"Mcp-Session-Id": "nosuchsession"}, 404, request.CodeInvalidRequest, "null"},
		{"unknown session GET", "GET", "", map[string]string{"Mcp-Session-Id": "nosuchsession", "Accept": "text/event-stream"}, 404, request.CodeInvalidRequest, "null"},
		{"method not allowed", "PUT", `{}`, nil, 405, request.CodeInvalidRequest, "null"},
		{"DNS rebinding", "POST", initBody, map[string]string{"Host": "evil.example"}, 403, request.CodeInvalidRequest, "null"},
		{"unknown method keeps the id", "POST", `{"jsonrpc":"2.0","id":9,"method":"no/such"}`, nil, 400, request.CodeMethodNotFound, "9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			for k, v := range tt.hdr {
				hdr[k] = v
			}
			a := doHost(t, tt.method, srv.URL, tt.body, hdr)
			if a.status != tt.status || a.ctype != "application/json" || a.code != tt.code || string(a.id) != tt.id || a.message == "" {
				t.Errorf("got %d %q %s; want %d application/json code %d id %s", a.status, a.ctype, a.raw, tt.status, tt.code, tt.id)
			}
		})
	}
}

// doHost is do with a Host header taken from hdr.
func doHost(t *testing.T, method, url, body string, hdr map[string]string) rpcAnswer {
	t.Helper()
	if h, ok := hdr["Host"]; ok {
		delete(hdr, "Host")
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Host = h
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		return send(t, req)
	}
	return do(t, method, url, body, hdr)
}

// TestSessionHijackIsObserved: a valid token presenting another user's
// session id is refused with 403, logged and handed to the Refuser (which
// audits it) with the presenting user and the session it tried.
func TestSessionHijackIsObserved(t *testing.T) {
	ref := &refused{}
	var logs strings.Builder
	srv := mcpServer(t, HTTPOptions{
		Auth:     &config.Auth{Tokens: []config.Token{{UserID: "alice", Value: testTokens["alice"]}, {UserID: "bob", Value: testTokens["bob"]}}},
		Refuser:  ref,
		Logger:   hclog.New(&hclog.LoggerOptions{Output: &logs}),
		Sessions: NewSessionLimits(config.Server{}),
	})
	a := do(t, "POST", srv.URL, initBody, map[string]string{"Authorization": "Bearer " + testTokens["alice"]})
	if a.sessionID == "" {
		t.Fatalf("initialize: %+v", a)
	}
	ref.calls = nil
	a = do(t, "POST", srv.URL, `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"secret_tool"}}`,
		map[string]string{"Authorization": "Bearer " + testTokens["bob"], "Mcp-Session-Id": a.sessionID})
	if a.status != http.StatusForbidden || a.ctype != "application/json" || string(a.id) != "null" {
		t.Errorf("hijack answered %d %q %s", a.status, a.ctype, a.raw)
	}
	if len(ref.calls) != 1 {
		t.Fatalf("refused calls = %+v", ref.calls)
	}
	c := ref.calls[0]
	if c.UserID != "bob" || c.SessionID == "" || c.Method != "tools/call" || c.Capability != "secret_tool" || !errors.Is(c.AuthErr, errSessionOwner) {
		t.Errorf("refused call = %+v", c)
	}
	if !strings.Contains(logs.String(), "session belongs to another user") || !strings.Contains(logs.String(), "user=bob") {
		t.Errorf("hijack not logged:\n%s", logs.String())
	}
}

// TestRequestIDsEchoedOrRefused: an id comes back exactly as sent, or the
// request is refused with -32600 and id null; never answered under another
// id.
func TestRequestIDsEchoedOrRefused(t *testing.T) {
	srv := mcpServer(t, HTTPOptions{})
	body := func(id string) string {
		return `{"jsonrpc":"2.0","id":` + id + `,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	}
	for _, id := range []string{`1`, `0`, `-5`, `"abc"`, `""`, `9007199254740991`, `-9007199254740991`} {
		a := do(t, "POST", srv.URL, body(id), nil)
		if a.status != 200 || !strings.Contains(a.raw, `"id":`+id+`,`) {
			t.Errorf("id %s: answered %d %s", id, a.status, a.raw)
		}
	}
	for _, id := range []string{`1.5`, `1180591620717411303424`, `-0`, `1e3`, `1.0`, `9007199254740993`, `9223372036854775807`, `-9223372036854775808`, `true`, `{}`, `[1]`} {
		a := do(t, "POST", srv.URL, body(id), nil)
		if a.status != 400 || a.code != request.CodeInvalidRequest || string(a.id) != "null" || a.sessionID != "" {
			t.Errorf("id %s: answered %d %s, want 400 -32600 id null", id, a.status, a.raw)
		}
	}
	// In a batch too.
	if a := do(t, "POST", srv.URL, `[`+body(`1`)+`,`+body(`-0`)+`]`, nil); a.status != 400 || a.code != request.CodeInvalidRequest {
		t.Errorf("batch with id -0: %d %s", a.status, a.raw)
	}
}
