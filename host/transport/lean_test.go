package transport

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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
	o.Lean = func(ctx context.Context, ss *mcp.ServerSession, _ string, params json.RawMessage, _ http.Header) (mcp.Result, error, bool) {
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
	o := HTTPOptions{Lean: func(ctx context.Context, ss *mcp.ServerSession, _ string, _ json.RawMessage, _ http.Header) (mcp.Result, error, bool) {
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

// probeLean is the /mcp handler with a Lean that, for the tool "ask",
// sends roots/list on the call's stream and answers with the client's
// reply, and for "block" waits until the call is cancelled (10 s at most);
// started receives each call's name as it begins.
func probeLean(t *testing.T, o HTTPOptions) (url string, started chan string) {
	started = make(chan string, 8)
	o.Lean = func(ctx context.Context, _ *mcp.ServerSession, method string, params json.RawMessage, _ http.Header) (mcp.Result, error, bool) {
		if method != "tools/call" {
			return nil, nil, false // the SDK serves the rest, lists included
		}
		var p struct{ Name string }
		json.Unmarshal(params, &p)
		started <- p.Name
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		switch p.Name {
		case "ask":
			st, _ := request.StreamFrom(ctx)
			raw, err := st.Call(ctx, "roots/list", nil)
			if err != nil {
				return nil, err, true
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(raw)}}}, nil, true
		case "block":
			<-ctx.Done()
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, errors.New("not cancelled within 10s"), true
			}
			return nil, ctx.Err(), true
		}
		return &mcp.CallToolResult{}, nil, true
	}
	return mcpServer(t, o).URL, started
}

// leanCall starts a tools/call of tool with the JSON-RPC id id on session
// sid and returns its SSE/JSON messages as they come.
func leanCall(t *testing.T, url, sid, id, tool string, hdr ...string) <-chan map[string]any {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(`{"jsonrpc":"2.0","id":`+id+`,"method":"tools/call","params":{"name":"`+tool+`","arguments":{}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-11-25")
	req.Header.Set("Mcp-Session-Id", sid)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	ch := make(chan map[string]any, 4)
	go func() {
		defer close(ch)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		defer resp.Body.Close()
		if resp.Header.Get("Content-Type") == "application/json" {
			var m map[string]any
			json.NewDecoder(resp.Body).Decode(&m)
			ch <- m
			return
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var m map[string]any
				json.Unmarshal([]byte(d), &m)
				ch <- m
			}
		}
	}()
	return ch
}

func nextMessage(t *testing.T, ch <-chan map[string]any) map[string]any {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("the response ended early")
		}
		return m
	case <-time.After(20 * time.Second):
		t.Fatal("no message within 20s")
	}
	return nil
}

// TestLeanCancelAnySpelling: notifications/cancelled names a lean call
// by its id as the SDK compares ids (a string however escaped, a number
// however written), and a second call with the same id spelled otherwise
// is a duplicate, refused as the SDK refuses one.
func TestLeanCancelAnySpelling(t *testing.T) {
	url, started := probeLean(t, HTTPOptions{})
	sid := openSession(t, url, nil)
	hdr := map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"}
	for _, c := range []struct{ id, cancelAs string }{{`"slow"`, `"\u0073low"`}, {`12`, `1.2e1`}} {
		call := leanCall(t, url, sid, c.id, "block")
		<-started
		if a := do(t, "POST", url, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":`+c.cancelAs+`}}`, hdr); a.status != http.StatusAccepted {
			t.Fatalf("cancel %s as %s: %d %s", c.id, c.cancelAs, a.status, a.raw)
		}
		m := nextMessage(t, call)
		if e, _ := m["error"].(map[string]any); e == nil || strings.Contains(fmt.Sprint(e["message"]), "not cancelled") {
			t.Fatalf("call %s cancelled as %s answered %v", c.id, c.cancelAs, m)
		}
	}
	call := leanCall(t, url, sid, `"dup"`, "block")
	<-started
	dup := leanCall(t, url, sid, `"\u0064up"`, "block")
	select {
	case name := <-started:
		t.Fatalf("a duplicate id was served on the lean path (%s)", name)
	case m := <-dup: // the SDK's refusal of a duplicate
		if e, _ := m["error"].(map[string]any); e == nil || e["code"] != float64(-32600) || e["message"] != "duplicate in-flight request ID dup" || m["id"] != "dup" {
			t.Fatalf("duplicate: %v", m)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no answer to the duplicate")
	}
	do(t, "POST", url, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"dup"}}`, hdr)
	nextMessage(t, call)
}

// TestLeanAnswerWithOtherMembers: the client's answer to a request sent on
// a lean stream reaches the call even when it is no plain message (here an
// extra member, which the SDK ignores).
func TestLeanAnswerWithOtherMembers(t *testing.T) {
	url, _ := probeLean(t, HTTPOptions{})
	sid := openSession(t, url, nil)
	call := leanCall(t, url, sid, `1`, "ask")
	req := nextMessage(t, call)
	id, _ := req["id"].(string)
	a := do(t, "POST", url, `{"jsonrpc":"2.0","id":"`+id+`","result":{"roots":[{"uri":"file:///x"}]},"x-extra":true}`,
		map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"})
	if a.status != http.StatusAccepted {
		t.Fatalf("answer: %d %s", a.status, a.raw)
	}
	if m := nextMessage(t, call); !strings.Contains(fmt.Sprint(m["result"]), "file:///x") {
		t.Fatalf("result %v", m)
	}
}

// TestLeanMessagesStayInTheirSession: neither the same user's other
// session nor another user presenting the session's id can answer a
// request sent on the session's lean stream or cancel its call (the
// latter is refused with 403); an answer nobody waits for harms nothing.
func TestLeanMessagesStayInTheirSession(t *testing.T) {
	url, started := probeLean(t, HTTPOptions{
		Auth: &config.Auth{Tokens: []config.Token{{UserID: "alice", Value: testTokens["alice"]}, {UserID: "bob", Value: testTokens["bob"]}}},
	})
	alice := map[string]string{"Authorization": "Bearer " + testTokens["alice"]}
	sidA, sidB := openSession(t, url, alice), openSession(t, url, alice)
	hdrA := map[string]string{"Mcp-Session-Id": sidA, "MCP-Protocol-Version": "2025-11-25", "Authorization": alice["Authorization"]}
	hdrB := map[string]string{"Mcp-Session-Id": sidB, "MCP-Protocol-Version": "2025-11-25", "Authorization": alice["Authorization"]}
	bobOnA := map[string]string{"Mcp-Session-Id": sidA, "MCP-Protocol-Version": "2025-11-25", "Authorization": "Bearer " + testTokens["bob"]}
	call := leanCall(t, url, sidA, `"c1"`, "ask", "Authorization", alice["Authorization"])
	<-started
	id, _ := nextMessage(t, call)["id"].(string)
	forged := `{"jsonrpc":"2.0","id":"` + id + `","result":{"roots":[{"uri":"file:///forged"}]}}`
	cancel := `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"c1"}}`
	do(t, "POST", url, forged, hdrB)
	do(t, "POST", url, cancel, hdrB)
	for _, body := range []string{forged, cancel} {
		if a := do(t, "POST", url, body, bobOnA); a.status != http.StatusForbidden {
			t.Fatalf("bob on alice's session: %d %s, want 403", a.status, a.raw)
		}
	}
	if a := do(t, "POST", url, `{"jsonrpc":"2.0","id":"argus-lean-999999999","result":{}}`, hdrA); a.status != http.StatusAccepted {
		t.Fatalf("stray answer: %d %s", a.status, a.raw)
	}
	do(t, "POST", url, `{"jsonrpc":"2.0","id":"`+id+`","result":{"roots":[{"uri":"file:///mine"}]}}`, hdrA)
	if m := fmt.Sprint(nextMessage(t, call)); !strings.Contains(m, "file:///mine") {
		t.Fatalf("A's call answered %s", m)
	}
	if a := do(t, "POST", url, leanCallBody, hdrA); a.status != 200 {
		t.Fatalf("session A after the stray messages: %d %s", a.status, a.raw)
	}
}

// TestLeanCallAndSessionEnd: a lean call longer than session_timeout is
// not cut by the idle clock (the clock stops while a POST is served), the
// session closes once idle after it, and a DELETE of the session ends
// the lean calls still running.
func TestLeanCallAndSessionEnd(t *testing.T) {
	started := make(chan struct{}, 1)
	o := HTTPOptions{SessionTimeout: 300 * time.Millisecond, Lean: func(ctx context.Context, _ *mcp.ServerSession, _ string, params json.RawMessage, _ http.Header) (mcp.Result, error, bool) {
		d := time.Second
		if strings.Contains(string(params), "forever") {
			d = time.Minute
			started <- struct{}{}
		}
		select {
		case <-time.After(d):
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "finished"}}}, nil, true
		case <-ctx.Done():
			return nil, ctx.Err(), true
		}
	}}
	url := mcpServer(t, o).URL
	sid := openSession(t, url, nil)
	hdr := map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"}
	if a := do(t, "POST", url, leanCallBody, hdr); a.status != 200 || !strings.Contains(a.raw, "finished") {
		t.Fatalf("1s call on a session with a 300ms idle timeout: %d %s", a.status, a.raw)
	}
	deadline := time.Now().Add(20 * time.Second)
	for do(t, "POST", url, `{"jsonrpc":"2.0","id":1,"method":"ping"}`, hdr).status != http.StatusNotFound {
		if time.Now().After(deadline) {
			t.Fatal("the idle session did not close")
		}
		time.Sleep(500 * time.Millisecond) // longer than the timeout: each request restarts the clock
	}

	sid = openSession(t, url, map[string]string{})
	hdr["Mcp-Session-Id"] = sid
	call := leanCall(t, url, sid, `1`, "forever")
	<-started
	if a := do(t, "DELETE", url, "", hdr); a.status/100 != 2 {
		t.Fatalf("DELETE: %d %s", a.status, a.raw)
	}
	if m := nextMessage(t, call); m["error"] == nil {
		t.Fatalf("the call on the deleted session answered %v", m)
	}
}

// TestLeanAnswerBeforeLateWork: what a call defers until its answer
// (request.Defer: spans, metrics) runs after the client has the whole
// answer, with its length declared rather than chunked; while it runs the
// call's id is already free for the client to use again; and it has run
// by the time the handler returns.
func TestLeanAnswerBeforeLateWork(t *testing.T) {
	release := make(chan struct{})
	var ran atomic.Int64
	srv := mcpServer(t, HTTPOptions{Lean: func(ctx context.Context, _ *mcp.ServerSession, _ string, _ json.RawMessage, _ http.Header) (mcp.Result, error, bool) {
		request.Defer(ctx, func() {
			<-release
			ran.Add(1)
		})
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "early"}}}, nil, true
	}})
	// On failure, the handlers must end before the server closes.
	free := sync.OnceFunc(func() { close(release) })
	t.Cleanup(free)
	sid := openSession(t, srv.URL, nil)

	// Each call on a connection of its own: on one connection the next
	// request waits for the handler anyway (HTTP/1.1 serves a connection's
	// requests in turn), which is no later than before.
	call := func() chan ownAnswer {
		ch := make(chan ownAnswer, 1)
		go func() { ch <- postOwn(srv.URL, sid, leanCallBody) }()
		return ch
	}
	wait := func(ch chan ownAnswer) ownAnswer {
		t.Helper()
		select {
		case a := <-ch:
			if a.err != nil {
				t.Fatal(a.err)
			}
			return a
		case <-time.After(10 * time.Second):
			t.Fatal("no answer while the call's late work was pending")
		}
		return ownAnswer{}
	}

	first := wait(call())
	if first.status != 200 || !strings.Contains(first.body, `"early"`) {
		t.Fatalf("answer %d %s", first.status, first.body)
	}
	if first.contentLength != int64(len(first.body)) || len(first.transferEncoding) > 0 {
		t.Errorf("Content-Length %d for %d bytes, Transfer-Encoding %v: want the length declared", first.contentLength, len(first.body), first.transferEncoding)
	}
	// The same id again, while the first call's late work still waits.
	second := wait(call())
	if second.status != 200 || !strings.Contains(second.body, `"early"`) {
		t.Fatalf("the same id while the first call's late work ran: %d %s", second.status, second.body)
	}
	if ran.Load() != 0 {
		t.Fatal("late work ran before it was released")
	}
	free()
	deadline := time.Now().Add(5 * time.Second)
	for ran.Load() != 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if ran.Load() != 2 {
		t.Fatalf("late work ran %d times, want 2", ran.Load())
	}
}

// TestLeanReusedIDOutlivesTheFirstCall: the first call's handler frees its
// id before its late work and the client uses the id again; when the
// first handler returns it must not free the second call's id, which
// stays refused as a duplicate and reachable by notifications/cancelled.
func TestLeanReusedIDOutlivesTheFirstCall(t *testing.T) {
	release := make(chan struct{})
	lateDone := make(chan struct{})
	started2 := make(chan struct{})
	cancelled2 := make(chan struct{})
	var n, served3 atomic.Int64
	srv := mcpServer(t, HTTPOptions{Lean: func(ctx context.Context, _ *mcp.ServerSession, _ string, _ json.RawMessage, _ http.Header) (mcp.Result, error, bool) {
		switch n.Add(1) {
		case 1:
			request.Defer(ctx, func() { <-release; close(lateDone) })
		case 2:
			close(started2)
			select {
			case <-ctx.Done():
				close(cancelled2)
			case <-time.After(5 * time.Second):
			}
		default:
			served3.Add(1)
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil, true
	}})
	sid := openSession(t, srv.URL, nil)
	post := func(body string) (int, string) {
		a := postOwn(srv.URL, sid, body)
		if a.err != nil {
			return 0, a.err.Error()
		}
		return a.status, a.body
	}
	if s, b := post(leanCallBody); s != 200 {
		t.Fatalf("first: %d %s", s, b)
	}
	second := make(chan string, 1)
	go func() { _, b := post(leanCallBody); second <- b }()
	<-started2
	close(release)
	<-lateDone
	time.Sleep(200 * time.Millisecond) // the first handler returns, running its deferred EndCall(id)

	// The same id while the second call is in flight: a duplicate.
	s, b := post(leanCallBody)
	t.Logf("third call with the in-flight id: %d %s (served on the lean path: %d)", s, b, served3.Load())
	if s != http.StatusBadRequest {
		t.Errorf("a third call with id 9, in flight in call 2, was not refused as a duplicate: %d", s)
	}
	s, b = post(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9}}`)
	t.Logf("cancel: %d %s", s, b)
	select {
	case <-cancelled2:
	case <-time.After(2 * time.Second):
		t.Errorf("notifications/cancelled for id 9 did not cancel the call in flight with that id")
	}
	<-second
}

// TestLeanLatePanic: a panic in late work, after the answer, is recorded;
// the rest of the work still runs and the client has its answer.
func TestLeanLatePanic(t *testing.T) {
	var after atomic.Int64
	panics := request.NewPanics(nil)
	srv := mcpServer(t, HTTPOptions{Panics: panics, Lean: func(ctx context.Context, _ *mcp.ServerSession, _ string, _ json.RawMessage, _ http.Header) (mcp.Result, error, bool) {
		request.Defer(ctx, func() { panic("late") })
		request.Defer(ctx, func() { after.Add(1) })
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil, true
	}})
	sid := openSession(t, srv.URL, nil)
	a := do(t, "POST", srv.URL, leanCallBody, map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"})
	// The work runs after the answer: wait for the handler to get there.
	for deadline := time.Now().Add(5 * time.Second); after.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if a.status != 200 || !strings.Contains(a.raw, `"ok"`) || panics.Count() != 1 || after.Load() != 1 {
		t.Errorf("answer %d %s, %d panics recorded (want 1), work after the panic ran %d times (want 1)", a.status, a.raw, panics.Count(), after.Load())
	}
}

// ownAnswer is what postOwn got.
type ownAnswer struct {
	status           int
	contentLength    int64
	transferEncoding []string
	body             string
	err              error
}

// postOwn posts body to url for the session sid on a connection of its
// own, as a client with several connections would; it reports failures
// in the answer, so any goroutine may call it.
func postOwn(url, sid, body string) ownAnswer {
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		return ownAnswer{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", sid)
	req.Header.Set("MCP-Protocol-Version", "2025-11-25")
	resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
	if err != nil {
		return ownAnswer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return ownAnswer{status: resp.StatusCode, contentLength: resp.ContentLength, transferEncoding: resp.TransferEncoding, body: string(b), err: err}
}

// idProbe watches the answers to lean calls of one session: when one is
// written it tries to begin a call with the same id, as a client that has
// read the answer and reuses its id would.
type idProbe struct {
	h       *mcpHandler
	sid     atomic.Pointer[string]
	inUse   atomic.Int64 // answers written while their id was still in flight
	written atomic.Int64 // answers written
}

// probeWriter is one response, watched by its idProbe.
type probeWriter struct {
	http.ResponseWriter
	p *idProbe
}

func (w probeWriter) Write(b []byte) (int, error) {
	if sid := w.p.sid.Load(); sid != nil && strings.Contains(string(b), `"result"`) { // not initialize's
		w.p.written.Add(1)
		if e := w.p.h.sessions.Get(*sid); e != nil {
			key, _ := session.CallKey(json.RawMessage(`9`))
			if e.BeginCall(key, func() {}) == session.ErrDuplicateID {
				w.p.inUse.Add(1)
			} else {
				e.EndCall(key)
			}
		}
	}
	return w.ResponseWriter.Write(b)
}

func (w probeWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w probeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// TestLeanIDFreeWhenAnswered: a lean call's id is free by the time its
// answer is written, as JSON or as the last event of an SSE stream (a
// call that sent a message first), with late work pending or not: a
// client that reuses the id as soon as it reads the answer is not refused
// as a duplicate.
func TestLeanIDFreeWhenAnswered(t *testing.T) {
	for _, tc := range []struct {
		name      string
		sse, late bool
	}{{"json", false, false}, {"json, late work", false, true}, {"sse", true, false}, {"sse, late work", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewMCPHandler(HTTPOptions{Server: mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, nil),
				Lean: func(ctx context.Context, _ *mcp.ServerSession, _ string, _ json.RawMessage, _ http.Header) (mcp.Result, error, bool) {
					if tc.sse {
						st, _ := request.StreamFrom(ctx)
						_ = st.Notify(ctx, "notifications/message", map[string]any{"level": "info", "data": "first"})
					}
					if tc.late {
						request.Defer(ctx, func() {})
					}
					return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil, true
				}}).(*mcpHandler)
			probe := &idProbe{h: h}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h.ServeHTTP(probeWriter{w, probe}, r)
			}))
			t.Cleanup(srv.Close)
			sid := openSession(t, srv.URL, nil)
			probe.sid.Store(&sid)
			a := postOwn(srv.URL, sid, leanCallBody)
			if a.err != nil || a.status != 200 || !strings.Contains(a.body, `"ok"`) {
				t.Fatalf("answer %d %s %v", a.status, a.body, a.err)
			}
			if probe.written.Load() != 1 || probe.inUse.Load() != 0 {
				t.Fatalf("%d answers written, %d of them while their id was still in flight", probe.written.Load(), probe.inUse.Load())
			}
		})
	}
}

// TestLeanAndSDKShareIDs: an id in flight on one path is in flight for
// the other too, as it would be were the SDK serving both. A request for
// the SDK with the id of a lean call in flight is refused as the SDK
// refuses a duplicate, and a lean call with the id of a request the SDK
// is serving goes to the SDK, which refuses it; notifications/cancelled
// then names one request.
func TestLeanAndSDKShareIDs(t *testing.T) {
	server := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	holding := make(chan struct{}, 1)
	mcp.AddTool(server, &mcp.Tool{Name: "hold"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		holding <- struct{}{}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(10 * time.Second):
			return nil, nil, errors.New("not cancelled within 10s")
		}
	})
	url, started := probeLean(t, HTTPOptions{Server: server})
	sid := openSession(t, url, nil)
	hdr := map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"}
	cancel := func(id string) {
		t.Helper()
		if a := do(t, "POST", url, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":`+id+`}}`, hdr); a.status != http.StatusAccepted {
			t.Fatalf("cancel %s: %d %s", id, a.status, a.raw)
		}
	}

	// A lean call holds id 81: tools/list 81 is a duplicate, 82 is not.
	call := leanCall(t, url, sid, `81`, "block")
	<-started
	if a := do(t, "POST", url, `{"jsonrpc":"2.0","id":81,"method":"tools/list"}`, hdr); a.status != http.StatusBadRequest ||
		a.code != -32600 || a.message != "duplicate in-flight request ID 81" {
		t.Fatalf("tools/list with a lean call's id: %d %s", a.status, a.raw)
	}
	if a := do(t, "POST", url, `{"jsonrpc":"2.0","id":82,"method":"tools/list"}`, hdr); a.status != http.StatusOK {
		t.Fatalf("tools/list 82: %d %s", a.status, a.raw)
	}
	cancel(`81`)
	if m := nextMessage(t, call); m["error"] == nil {
		t.Fatalf("the lean call 81 after its cancel: %v", m)
	}

	// The SDK serves id 90 (a member the lean path does not read sends
	// it there): a plain call 90 is not served on the lean path.
	sdkCall := make(chan rpcAnswer, 1)
	go func() {
		sdkCall <- do(t, "POST", url, `{"jsonrpc":"2.0","id":90,"method":"tools/call","params":{"name":"hold","arguments":{}},"x-odd":1}`, hdr)
	}()
	select {
	case <-holding:
	case <-time.After(20 * time.Second):
		t.Fatal("the SDK's call 90 did not start")
	}
	dup := leanCall(t, url, sid, `90`, "block")
	select {
	case name := <-started:
		t.Fatalf("a lean call was served with the id of the SDK's request in flight (%s)", name)
	case m := <-dup:
		if e, _ := m["error"].(map[string]any); e == nil || e["message"] != "duplicate in-flight request ID 90" {
			t.Fatalf("a lean call with the SDK's request's id: %v", m)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no answer to the call with the SDK's request's id")
	}
	cancel(`90`) // the SDK's request, the only one of that id
	select {
	case a := <-sdkCall:
		if strings.Contains(a.raw, "not cancelled") {
			t.Fatalf("the SDK's call 90 was not cancelled: %s", a.raw)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the SDK's call 90 did not end after its cancel")
	}
	// Its id is free again, for either path.
	call = leanCall(t, url, sid, `90`, "ok")
	if name := <-started; name != "ok" {
		t.Fatalf("started %q", name)
	}
	if m := nextMessage(t, call); m["result"] == nil {
		t.Fatalf("lean call 90 after the SDK's ended: %v", m)
	}
}

// TestLeanOnlyWhatTheSDKAccepts: a request the SDK would refuse on its
// envelope or its headers is not served on the lean path but refused as
// the SDK refuses it: a jsonrpc version other than "2.0" (or none), and,
// on a loopback listener, a Host that is not loopback (the SDK's DNS
// rebinding protection).
func TestLeanOnlyWhatTheSDKAccepts(t *testing.T) {
	url, served := leanServer(t, HTTPOptions{})
	sid := openSession(t, url, nil)
	hdr := map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"}
	for _, v := range []string{`"jsonrpc":"1.0",`, `"jsonrpc":2.0,`, `"jsonrpc":null,`, ``} {
		a := do(t, "POST", url, `{`+v+`"id":9,"method":"tools/call","params":{"name":"t","arguments":{}}}`, hdr)
		if a.status != http.StatusBadRequest || a.code != request.CodeInvalidRequest || served.Load() != 0 {
			t.Fatalf("version %q: %d %s, served %d", v, a.status, a.raw, served.Load())
		}
		a = do(t, "POST", url, `{`+v+`"method":"notifications/cancelled","params":{"requestId":9}}`, hdr)
		if a.status != http.StatusBadRequest {
			t.Fatalf("notifications/cancelled of version %q: %d %s", v, a.status, a.raw)
		}
	}
	for _, host := range []string{"evil.example", "evil.example:80"} {
		req, _ := http.NewRequest("POST", url, strings.NewReader(leanCallBody))
		req.Host = host
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		if a := send(t, req); a.status != http.StatusForbidden || served.Load() != 0 {
			t.Fatalf("Host %s: %d %s, served %d", host, a.status, a.raw, served.Load())
		}
	}
	if a := do(t, "POST", url, leanCallBody, hdr); a.status != http.StatusOK || served.Load() != 1 {
		t.Fatalf("a plain call: %d %s, served %d", a.status, a.raw, served.Load())
	}
}

// TestLeanHeaderForms: the lean path takes the request headers' forms
// the SDK accepts (a media type with parameters or in capitals, Accept
// lists in any order, with wildcards, empty members and q-values) and
// leaves the rest to the SDK.
func TestLeanHeaderForms(t *testing.T) {
	url, served := leanServer(t, HTTPOptions{})
	sid := openSession(t, url, nil)
	for _, tt := range []struct {
		contentType, accept string
		lean                bool
	}{
		{"application/json", "application/json, text/event-stream", true},
		{"application/json; charset=utf-8", "application/json, text/event-stream", true},
		{"Application/JSON", "text/event-stream,application/json", true},
		{"application/json", "*/*", true},
		{"application/json", "application/*;q=0.9, TEXT/Event-Stream", true},
		{"application/json", ",application/json,,text/*,", true},
		{"application/json", "application/json", false},
		{"application/json", "text/event-stream", false},
		{"application/json", "", false},
		{"text/plain", "application/json, text/event-stream", false},
		{"application/json;", "application/json, text/event-stream", true},
		{"", "application/json, text/event-stream", false},
	} {
		before := served.Load()
		a := do(t, "POST", url, leanCallBody, map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25",
			"Content-Type": tt.contentType, "Accept": tt.accept})
		want := int64(0)
		if tt.lean {
			want = 1
		}
		if got := served.Load() - before; got != want {
			t.Errorf("Content-Type %q, Accept %q: served lean %d times (status %d %s), want lean %v", tt.contentType, tt.accept, got, a.status, a.raw, tt.lean)
		}
	}
}
