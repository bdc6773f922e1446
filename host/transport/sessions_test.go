package transport

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/request"
)

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`

var testTokens = map[string]string{"alice": "alice-token-0123456789", "bob": "bob-token-0123456789ab"}

// mcpServer serves the real /mcp handler in front of an empty MCP server.
func mcpServer(t *testing.T, o HTTPOptions) *httptest.Server {
	t.Helper()
	if o.Server == nil {
		o.Server = mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	}
	srv := httptest.NewServer(NewMCPHandler(o))
	t.Cleanup(srv.Close)
	return srv
}

type rpcAnswer struct {
	status    int
	ctype     string
	sessionID string
	id        json.RawMessage
	code      int
	message   string
	raw       string
}

// do sends one raw HTTP request to /mcp and decodes a JSON-RPC error body if
// there is one.
func do(t *testing.T, method, url, body string, hdr map[string]string) rpcAnswer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return send(t, req)
}

// send sends req and decodes a JSON-RPC error body if there is one.
func send(t *testing.T, req *http.Request) rpcAnswer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := rpcAnswer{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), sessionID: resp.Header.Get("Mcp-Session-Id"), raw: string(b)}
	var m struct {
		ID    json.RawMessage `json:"id"`
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &m) == nil {
		a.id, a.code, a.message = m.ID, m.Error.Code, m.Error.Message
	}
	return a
}

func TestSessionLimits(t *testing.T) {
	lim := NewSessionLimits(config.Server{MaxSessions: 4, MaxSessionsPerIP: 2, MaxSessionsPerUser: 3})
	srv := mcpServer(t, HTTPOptions{
		Auth:           &config.Auth{Tokens: []config.Token{{UserID: "alice", Value: testTokens["alice"]}, {UserID: "bob", Value: testTokens["bob"]}}},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		Sessions:       lim,
	})
	open := func(user, ip string) rpcAnswer {
		return do(t, "POST", srv.URL, initBody, map[string]string{"Authorization": "Bearer " + testTokens[user], "X-Forwarded-For": ip})
	}
	steps := []struct {
		user, ip string
		status   int
		limit    string
	}{
		{"alice", "10.0.0.1", 200, ""},
		{"alice", "10.0.0.1", 200, ""},
		{"alice", "10.0.0.1", 429, LimitMaxSessionsPerIP},
		{"alice", "10.0.0.2", 200, ""},
		{"alice", "10.0.0.3", 429, LimitMaxSessionsPerUser},
		{"bob", "10.0.0.3", 200, ""},
		{"bob", "10.0.0.4", 503, LimitMaxSessions},
	}
	var ids []string
	for i, s := range steps {
		a := open(s.user, s.ip)
		if a.status != s.status {
			t.Fatalf("step %d (%s from %s): status %d, want %d: %s", i, s.user, s.ip, a.status, s.status, a.raw)
		}
		if s.limit == "" {
			if a.sessionID == "" {
				t.Fatalf("step %d: no session id", i)
			}
			ids = append(ids, a.sessionID)
			continue
		}
		if a.code != request.CodeLimitReached || !strings.Contains(a.message, s.limit) || string(a.id) != "1" || a.ctype != "application/json" {
			t.Errorf("step %d: refusal %+v, want code %d naming %s", i, a, request.CodeLimitReached, s.limit)
		}
	}
	if got := lim.Open(); got != 4 {
		t.Errorf("open = %d, want 4", got)
	}
	if r := lim.Refused(); r[LimitMaxSessions] != 1 || r[LimitMaxSessionsPerIP] != 1 || r[LimitMaxSessionsPerUser] != 1 {
		t.Errorf("refused = %v", r)
	}

	// A closed session frees its slot.
	if a := do(t, "DELETE", srv.URL, "", map[string]string{"Authorization": "Bearer " + testTokens["alice"], "Mcp-Session-Id": ids[0]}); a.status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", a.status, a.raw)
	}
	waitUntil(t, 5*time.Second, "slot released", func() bool { return lim.Open() == 3 })
	if a := open("bob", "10.0.0.4"); a.status != 200 {
		t.Errorf("after DELETE: %d %s", a.status, a.raw)
	}
}

func TestSessionLimitReleasedOnTimeout(t *testing.T) {
	lim := NewSessionLimits(config.Server{MaxSessions: 1})
	srv := mcpServer(t, HTTPOptions{Sessions: lim, SessionTimeout: 300 * time.Millisecond})
	// A request that opens no lasting session (no initialize) keeps no slot.
	do(t, "POST", srv.URL, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, nil)
	waitUntil(t, 5*time.Second, "no slot kept", func() bool { return lim.Open() == 0 })
	if a := do(t, "POST", srv.URL, initBody, nil); a.status != 200 {
		t.Fatalf("first: %d %s", a.status, a.raw)
	}
	if a := do(t, "POST", srv.URL, initBody, nil); a.status != http.StatusServiceUnavailable || !strings.Contains(a.message, "server.max_sessions (1)") {
		t.Fatalf("second: %d %s", a.status, a.raw)
	}
	waitUntil(t, 10*time.Second, "idle session timed out", func() bool { return lim.Open() == 0 })
	if a := do(t, "POST", srv.URL, initBody, nil); a.status != 200 {
		t.Fatalf("after timeout: %d %s", a.status, a.raw)
	}
}

func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOpenedSessionsLeaveNothingBehind: every session the handler opens is
// taken from the initialize index at once (a second initialize on an open
// session is kept only until it closes), and its slot and table entry go
// when it closes.
func TestOpenedSessionsLeaveNothingBehind(t *testing.T) {
	lim := NewSessionLimits(config.Server{MaxSessions: 10})
	h := NewMCPHandler(HTTPOptions{Server: mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, nil), Sessions: lim}).(*mcpHandler)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	indexed := func() int {
		n := 0
		h.initialized.Range(func(any, any) bool { n++; return true })
		return n
	}
	var ids []string
	for range 3 {
		a := do(t, "POST", srv.URL, initBody, nil)
		if a.status != 200 || a.sessionID == "" {
			t.Fatalf("initialize: %d %s", a.status, a.raw)
		}
		ids = append(ids, a.sessionID)
		if got := indexed(); got != 0 {
			t.Fatalf("after opening a session, %d kept in the initialize index", got)
		}
		if h.sessions.Get(a.sessionID) == nil {
			t.Fatalf("session %s not in the table", a.sessionID)
		}
	}
	// The SDK serves an initialize on an open session again; it is kept
	// until the session closes.
	if a := do(t, "POST", srv.URL, initBody, map[string]string{"Mcp-Session-Id": ids[0], "Mcp-Protocol-Version": "2025-11-25"}); a.status != 200 || indexed() != 1 {
		t.Fatalf("second initialize: %d %s, %d kept", a.status, a.raw, indexed())
	}
	if lim.Open() != 3 {
		t.Fatalf("open = %d, want 3", lim.Open())
	}
	for _, id := range ids {
		if a := do(t, "DELETE", srv.URL, "", map[string]string{"Mcp-Session-Id": id}); a.status != http.StatusNoContent {
			t.Fatalf("DELETE: %d %s", a.status, a.raw)
		}
	}
	waitUntil(t, 5*time.Second, "every slot, entry and index entry gone", func() bool {
		return lim.Open() == 0 && indexed() == 0 && h.sessions.Get(ids[0]) == nil && h.sessions.Get(ids[2]) == nil
	})
}
