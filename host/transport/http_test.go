package transport

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/gateway"
	"github.com/argusmcp/argus/host/request"
)

func TestTokenSet(t *testing.T) {
	s := newTokenSet([]config.Token{{UserID: "alice", Value: "alice-token-0123456789"}, {UserID: "bob", Value: "bob-token-0123456789ab"}})
	tests := []struct {
		header, user string
		err          error
	}{
		{"Bearer alice-token-0123456789", "alice", nil},
		{"bearer bob-token-0123456789ab", "bob", nil},
		{"Bearer  alice-token-0123456789 ", "alice", nil},
		{"", "", errNoToken},
		{"Basic YWxpY2U6eA==", "", errNoToken},
		{"Bearer ", "", errNoToken},
		{"Bearer alice-token-012345678", "", errBadToken},
		{"Bearer alice-token-0123456789x", "", errBadToken},
	}
	for _, tt := range tests {
		var headers []string
		if tt.header != "" {
			headers = []string{tt.header}
		}
		user, err := s.verify(headers)
		if user != tt.user || err != tt.err {
			t.Errorf("verify(%q) = %q, %v; want %q, %v", tt.header, user, err, tt.user, tt.err)
		}
	}
	// Two headers are ambiguous, whichever comes first.
	for _, h := range [][]string{
		{"Bearer alice-token-0123456789", "Bearer bob-token-0123456789ab"},
		{"Bearer alice-token-0123456789", "Bearer alice-token-0123456789"},
		{"Bearer wrong-token-0123456789", "Bearer alice-token-0123456789"},
	} {
		if user, err := s.verify(h); err != errAmbiguousToken {
			t.Errorf("verify(%q) = %q, %v; want %v", h, user, err, errAmbiguousToken)
		}
	}
}

// TestTwoAuthorizationHeaders: ambiguous credentials are refused with 400
// and a JSON-RPC error, and observed as a denial.
func TestTwoAuthorizationHeaders(t *testing.T) {
	reached := false
	ref := &refused{}
	h := handlerWithSpy(HTTPOptions{
		Auth:    &config.Auth{Tokens: []config.Token{{UserID: "alice", Value: "alice-token-0123456789"}}},
		Refuser: ref,
	}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true }))
	req := httptest.NewRequest("POST", "/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"demo_echo"}}`))
	req.Header.Add("Authorization", "Bearer alice-token-0123456789")
	req.Header.Add("Authorization", "Bearer mallory-token-0123456789")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var resp struct {
		ID    json.RawMessage    `json:"id"`
		Error struct{ Code int } `json:"error"`
	}
	if rec.Code != http.StatusBadRequest || json.Unmarshal(rec.Body.Bytes(), &resp) != nil || resp.Error.Code != request.CodeUnauthorized || string(resp.ID) != "7" {
		t.Errorf("status %d body %s", rec.Code, rec.Body.String())
	}
	if reached {
		t.Error("a request with two Authorization headers reached the MCP layer")
	}
	if len(ref.calls) != 1 || ref.calls[0].AuthErr != errAmbiguousToken || ref.calls[0].UserID != "" {
		t.Errorf("refused calls = %+v", ref.calls)
	}
}

type refused struct{ calls []*request.Call }

func (r *refused) Refuse(_ context.Context, c *request.Call) { r.calls = append(r.calls, c) }

// handlerWithSpy builds the /mcp handler around a spy instead of the SDK,
// by swapping next after construction.
func handlerWithSpy(o HTTPOptions, spy http.Handler) *mcpHandler {
	h := NewMCPHandler(o).(*mcpHandler)
	h.next = spy
	return h
}

func TestInternalHeadersCannotBeForged(t *testing.T) {
	var got http.Header
	var body string
	spy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		b, _ := io.ReadAll(r.Body)
		body = string(b)
	})
	h := handlerWithSpy(HTTPOptions{Auth: &config.Auth{Tokens: []config.Token{{UserID: "alice", Value: "alice-token-0123456789"}}}}, spy)
	req := httptest.NewRequest("POST", "/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":"abc","method":"tools/list"}`))
	req.RemoteAddr = "192.0.2.7:5555"
	req.Header.Set("Authorization", "Bearer alice-token-0123456789")
	req.Header.Set(gateway.HeaderUserID, "mallory")
	req.Header.Set(gateway.HeaderClientIP, "10.0.0.1")
	req.Header.Set(gateway.HeaderJSONRPCID, "999")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if got.Get(gateway.HeaderUserID) != "alice" || got.Get(gateway.HeaderClientIP) != "192.0.2.7" || got.Get(gateway.HeaderJSONRPCID) != `"abc"` {
		t.Errorf("internal headers = user %q ip %q id %q", got.Get(gateway.HeaderUserID), got.Get(gateway.HeaderClientIP), got.Get(gateway.HeaderJSONRPCID))
	}
	if body != `{"jsonrpc":"2.0","id":"abc","method":"tools/list"}` {
		t.Errorf("body not passed on intact: %q", body)
	}
}

func TestUnauthorizedIsRefusedAndObserved(t *testing.T) {
	reached := false
	spy := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true })
	ref := &refused{}
	h := handlerWithSpy(HTTPOptions{
		Auth:    &config.Auth{Tokens: []config.Token{{UserID: "alice", Value: "alice-token-0123456789"}}},
		Refuser: ref,
	}, spy)
	for _, auth := range []string{"", "Bearer wrong-token-0123456789"} {
		req := httptest.NewRequest("POST", "/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"demo_search"}}`))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("auth %q: status %d", auth, rec.Code)
		}
		if !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("no WWW-Authenticate challenge")
		}
		var resp struct {
			ID    json.RawMessage    `json:"id"`
			Error struct{ Code int } `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || string(resp.ID) != "7" || resp.Error.Code != request.CodeUnauthorized {
			t.Errorf("body %s (%v)", rec.Body.String(), err)
		}
	}
	if reached {
		t.Error("an unauthenticated request reached the MCP layer")
	}
	if len(ref.calls) != 2 || ref.calls[0].Capability != "demo_search" || ref.calls[0].Method != "tools/call" || ref.calls[0].AuthErr == nil || ref.calls[0].UserID != "" {
		t.Errorf("refused calls = %+v", ref.calls)
	}
}

func TestOversizedBody(t *testing.T) {
	h := handlerWithSpy(HTTPOptions{MaxRequestBytes: 1024}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("oversized request passed on")
	}))
	req := httptest.NewRequest("POST", "/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"s":"`+strings.Repeat("a", 2000)+`"}}}`))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "exceeds 1024 bytes") {
		t.Errorf("status %d body %s", rec.Code, rec.Body.String())
	}
}

func TestClientIPTrustedProxies(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}
	tests := []struct {
		peer, xff string
		trusted   []netip.Prefix
		want      string
	}{
		{"192.0.2.7:1", "", trusted, "192.0.2.7"},
		{"192.0.2.7:1", "203.0.113.9", trusted, "192.0.2.7"},                     // untrusted peer: XFF ignored
		{"10.1.2.3:1", "203.0.113.9", trusted, "203.0.113.9"},                    // trusted proxy
		{"10.1.2.3:1", "6.6.6.6, 203.0.113.9, 10.9.9.9", trusted, "203.0.113.9"}, // forged left part skipped
		{"10.1.2.3:1", "203.0.113.9", nil, "10.1.2.3"},                           // no trusted proxies configured
		{"10.1.2.3:1", "not-an-ip", trusted, "10.1.2.3"},
		{"127.0.0.1:1", "10.0.0.5, 10.0.0.6", trusted, "10.0.0.5"}, // all trusted: left-most
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/mcp", nil)
		r.RemoteAddr = tt.peer
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := clientIP(r, tt.trusted); got != tt.want {
			t.Errorf("peer %s xff %q: %s, want %s", tt.peer, tt.xff, got, tt.want)
		}
	}
}

// TestParamHeaderMismatch: a 2026-07-28 tools/call whose Mcp-Param-*
// header contradicts its arguments is refused with HTTP 400 and -32020
// before it reaches the MCP layer; a matching one passes, and older
// revisions are not checked.
func TestParamHeaderMismatch(t *testing.T) {
	tool := &mcp.Tool{Name: "t", InputSchema: json.RawMessage(`{"type":"object","properties":{"region":{"type":"string","x-mcp-header":"Region"}}}`)}
	reached := 0
	h := &mcpHandler{
		opts: HTTPOptions{MaxRequestBytes: 1 << 20, Tool: func(name string) (*mcp.Tool, bool) { return tool, name == "t" }},
		next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached++ }),
	}
	post := func(version, region string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"t","arguments":{"region":"eu"}}}`))
		req.Header.Set("MCP-Protocol-Version", version)
		req.Header.Set("Mcp-Param-Region", region)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	rec := post("2026-07-28", "us")
	var body struct {
		ID    int `json:"id"`
		Error struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	json.Unmarshal(rec.Body.Bytes(), &body)
	if rec.Code != http.StatusBadRequest || body.Error.Code != mcp.CodeHeaderMismatch || body.ID != 3 || reached != 0 {
		t.Errorf("mismatch: status %d body %s reached %d", rec.Code, rec.Body, reached)
	}
	if rec := post("2026-07-28", "eu"); rec.Code != http.StatusOK || reached != 1 {
		t.Errorf("match: status %d body %s reached %d", rec.Code, rec.Body, reached)
	}
	if rec := post("2025-11-25", "us"); rec.Code != http.StatusOK || reached != 2 {
		t.Errorf("older revision: status %d body %s reached %d", rec.Code, rec.Body, reached)
	}
}

// TestHandlerPanicRecovered: a panic while serving /mcp answers HTTP 500
// with a JSON-RPC internal error carrying the request's id, is counted,
// and does not reach net/http (which would drop the connection).
func TestHandlerPanicRecovered(t *testing.T) {
	panics := request.NewPanics(nil)
	h := handlerWithSpy(HTTPOptions{Panics: panics}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom")
	}))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":42,"method":"tools/list"}`))
	h.ServeHTTP(rec, req)
	var resp struct {
		ID    json.RawMessage `json:"id"`
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatalf("%v: %q", err, rec.Body.String())
	}
	if rec.Code != http.StatusInternalServerError || string(resp.ID) != "42" || resp.Error.Code != request.CodeInternalError {
		t.Errorf("status %d body %s", rec.Code, rec.Body.String())
	}
	if strings.Contains(rec.Body.String(), "boom") {
		t.Errorf("the answer quotes the panic: %s", rec.Body.String())
	}
	if panics.Count() != 1 {
		t.Errorf("counted %d panics", panics.Count())
	}
}
