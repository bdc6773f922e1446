package transport

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/config"
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

// TestRequestFactsCannotBeForged: the MCP layer learns a request's facts
// (user, client IP, JSON-RPC id, transport) from the transport alone;
// headers a client sends to claim them, such as the X-Argus-Internal-*
// headers earlier versions used, change nothing. The handler sees the
// client's own headers, Authorization included.
func TestRequestFactsCannotBeForged(t *testing.T) {
	for _, tt := range []struct {
		name string
		auth *config.Auth
		user string
	}{
		{"authenticated", &config.Auth{Tokens: []config.Token{{UserID: "alice", Value: testTokens["alice"]}}}, "alice"},
		{"anonymous", nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			server := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, nil)
			type seen struct {
				facts request.Facts
				ok    bool
				auth  string
			}
			got := make(chan seen, 1)
			server.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
				return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
					if method == "tools/list" {
						f, ok := request.FactsOf(req.GetExtra())
						got <- seen{f, ok, req.GetExtra().Header.Get("Authorization")}
					}
					return next(ctx, method, req)
				}
			})
			srv := mcpServer(t, HTTPOptions{Server: server, Auth: tt.auth})
			forged := http.Header{
				"Authorization":               {"Bearer " + testTokens["alice"]},
				"X-Argus-Internal-User-Id":    {"mallory"},
				"X-Argus-Internal-Client-Ip":  {"10.0.0.1"},
				"X-Argus-Internal-Jsonrpc-Id": {"999"},
				"X-Argus-Internal-Transport":  {"stdio"},
				"X-Argus-Request-Facts":       {`{"UserID":"mallory"}`},
				"X-Forwarded-For":             {"10.0.0.2"},
			}
			client := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil)
			cs, err := client.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: srv.URL,
				HTTPClient: &http.Client{Transport: addHeaders{forged}}}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			if _, err := cs.ListTools(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			s := <-got
			want := request.Facts{UserID: tt.user, ClientIP: "127.0.0.1", Transport: request.TransportHTTP, JSONRPCID: s.facts.JSONRPCID}
			if !s.ok || !reflect.DeepEqual(s.facts, want) {
				t.Errorf("facts = %+v (%v), want %+v", s.facts, s.ok, want)
			}
			if id := s.facts.JSONRPCID; id == "" || id == "999" || strings.Trim(id, "0123456789") != "" {
				t.Errorf("JSON-RPC id %q, want the client's numeric id", id)
			}
			if s.auth != forged.Get("Authorization") {
				t.Errorf("handler sees Authorization %q, want the client's own", s.auth)
			}
		})
	}
}

// addHeaders adds headers to every request.
type addHeaders struct{ h http.Header }

func (a addHeaders) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range a.h {
		r.Header[k] = v
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestStdioFacts: requests read over stdio carry the transport name and
// their JSON-RPC id.
func TestStdioFacts(t *testing.T) {
	server := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	got := make(chan request.Facts, 1)
	server.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "tools/list" {
				f, _ := request.FactsOf(req.GetExtra())
				got <- f
			}
			return next(ctx, method, req)
		}
	})
	st, ct := mcp.NewInMemoryTransports()
	ss, err := server.Connect(context.Background(), Stdio(st), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil).Connect(context.Background(), ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if _, err := cs.ListTools(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	f := <-got
	if f.Transport != request.TransportStdio || f.JSONRPCID == "" || f.ClientIP != "" || f.UserID != "" {
		t.Errorf("stdio facts = %+v", f)
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
		if got := ClientIP(r, tt.trusted); got != tt.want {
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

// TestWriteRPCErrorID: a refusal carries the request's id as the client
// wrote it, null without one, and an id with bytes that are not UTF-8
// with them replaced (U+FFFD), as the SDK answers: never an answer that
// is not UTF-8.
func TestWriteRPCErrorID(t *testing.T) {
	for _, tc := range []struct{ id, want string }{
		{``, `null`},
		{`7`, `7`},
		{`"a\u00e9"`, `"a\u00e9"`},
		{"\"a\xffb\"", `"a` + "\ufffd" + `b"`},
	} {
		w := httptest.NewRecorder()
		writeRPCError(w, http.StatusBadRequest, json.RawMessage(tc.id), -32600, "no")
		body := w.Body.Bytes()
		var msg struct{ ID json.RawMessage }
		if !utf8.Valid(body) || json.Unmarshal(body, &msg) != nil || string(msg.ID) != tc.want {
			t.Errorf("id %q: answered %q, want id %s", tc.id, body, tc.want)
		}
	}
}
