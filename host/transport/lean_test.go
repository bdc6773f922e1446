package transport

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/request"
	"github.com/argusmcp/argus/host/transport/session"
)

const leanCallBody = `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"t","arguments":{}}}`

// leanServer is the /mcp handler with a Lean that answers every call
// "lean", counting them.
func leanServer(t *testing.T, o HTTPOptions) (url string, served *atomic.Int64) {
	served = &atomic.Int64{}
	o.Lean = func(ctx context.Context, ss *mcp.ServerSession, params json.RawMessage, _ http.Header) (mcp.Result, error, bool) {
		served.Add(1)
		f, _ := request.FactsFrom(ctx)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "lean for " + f.UserID}}}, nil, true
	}
	return mcpServer(t, o).URL, served
}

func openSession(t *testing.T, url string, hdr map[string]string) string {
	t.Helper()
	a := do(t, "POST", url, initBody, hdr)
	if a.status != 200 || a.sessionID == "" {
		t.Fatalf("initialize: %d %s", a.status, a.raw)
	}
	h := map[string]string{"Mcp-Session-Id": a.sessionID, "MCP-Protocol-Version": "2025-11-25"}
	for k, v := range hdr {
		h[k] = v
	}
	do(t, "POST", url, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, h)
	return a.sessionID
}

// TestLeanKeepsSessionAlive: the idle clock (session_timeout) sees the
// calls the lean path serves, which the SDK's own clock would not, and
// still closes the session once they stop.
func TestLeanKeepsSessionAlive(t *testing.T) {
	url, served := leanServer(t, HTTPOptions{SessionTimeout: 300 * time.Millisecond})
	sid := openSession(t, url, nil)
	hdr := map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"}
	for i := 0; i < 12; i++ { // 1.2 s, four times the timeout
		a := do(t, "POST", url, leanCallBody, hdr)
		if a.status != 200 || a.ctype != "application/json" || !strings.Contains(a.raw, `"lean for "`) {
			t.Fatalf("call %d: %d %s %s", i, a.status, a.ctype, a.raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if served.Load() != 12 {
		t.Fatalf("lean path served %d calls, want 12", served.Load())
	}
	// Every request restarts the clock, so look once, well after it ran out.
	time.Sleep(time.Second)
	if a := do(t, "POST", url, leanCallBody, hdr); a.status != http.StatusNotFound {
		t.Fatalf("a second after the last call: %d %s, want 404 (session closed)", a.status, a.raw)
	}
}

// TestLeanOnlyForTheSessionOwner: another user presenting a session id
// gets the SDK's refusal (and the refusal is reported), never the lean
// path; the owner is served on it.
func TestLeanOnlyForTheSessionOwner(t *testing.T) {
	spy := &refused{}
	url, served := leanServer(t, HTTPOptions{
		Auth:    &config.Auth{Tokens: []config.Token{{UserID: "alice", Value: testTokens["alice"]}, {UserID: "bob", Value: testTokens["bob"]}}},
		Refuser: spy,
	})
	alice := map[string]string{"Authorization": "Bearer " + testTokens["alice"]}
	sid := openSession(t, url, alice)
	bob := map[string]string{"Authorization": "Bearer " + testTokens["bob"], "Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"}
	if a := do(t, "POST", url, leanCallBody, bob); a.status != http.StatusForbidden {
		t.Fatalf("bob on alice's session: %d %s", a.status, a.raw)
	}
	if served.Load() != 0 || len(spy.calls) != 1 || spy.calls[0].UserID != "bob" {
		t.Fatalf("lean served %d, refusals %+v", served.Load(), spy.calls)
	}
	alice["Mcp-Session-Id"], alice["MCP-Protocol-Version"] = sid, "2025-11-25"
	if a := do(t, "POST", url, leanCallBody, alice); a.status != 200 || !strings.Contains(a.raw, "lean for alice") {
		t.Fatalf("alice: %d %s", a.status, a.raw)
	}
}

// TestLeanStreamUpgrade: a message sent before the result turns the
// response into an SSE stream; after the result nothing more is sent.
func TestLeanStreamUpgrade(t *testing.T) {
	after := make(chan error, 1)
	o := HTTPOptions{Lean: func(ctx context.Context, ss *mcp.ServerSession, _ json.RawMessage, _ http.Header) (mcp.Result, error, bool) {
		st, _ := request.StreamFrom(ctx)
		if err := st.Notify(ctx, "notifications/message", map[string]any{"level": "info", "data": "first"}); err != nil {
			t.Error(err)
		}
		go func() {
			time.Sleep(200 * time.Millisecond)
			after <- st.Notify(ctx, "notifications/message", map[string]any{"level": "info", "data": "late"})
		}()
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, true
	}}
	url := mcpServer(t, o).URL
	sid := openSession(t, url, nil)
	a := do(t, "POST", url, leanCallBody, map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"})
	if a.ctype != "text/event-stream" || strings.Count(a.raw, "event: message\n") != 2 ||
		strings.Index(a.raw, `"first"`) > strings.Index(a.raw, `"done"`) || strings.Contains(a.raw, "late") {
		t.Fatalf("%s\n%s", a.ctype, a.raw)
	}
	if err := <-after; err != session.ErrStreamClosed {
		t.Fatalf("late notification: %v, want session.ErrStreamClosed", err)
	}
}
