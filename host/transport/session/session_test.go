package session

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func newEntry() *Entry {
	return &Entry{calls: map[string]context.CancelFunc{}, waiting: map[string]chan Reply{}}
}

// waitingID is the id of the one request waiting on e.
func waitingID(t *testing.T, e *Entry) string {
	t.Helper()
	for range 500 {
		e.mu.Lock()
		for id := range e.waiting {
			e.mu.Unlock()
			return id
		}
		e.mu.Unlock()
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatal("no request waiting")
	return ""
}

func TestEntryCalls(t *testing.T) {
	e := newEntry()
	cancelled := 0
	if e.BeginCall("7", func() { cancelled++ }) != nil || e.BeginCall("7", func() {}) != ErrDuplicateID {
		t.Fatal("BeginCall: want the first, not a duplicate id")
	}
	if !e.CancelCall("7") || cancelled != 1 || e.CancelCall("8") {
		t.Fatalf("CancelCall: cancelled %d", cancelled)
	}
	e.EndCall("7")
	if e.CancelCall("7") {
		t.Fatal("CancelCall after EndCall")
	}
}

// TestStreamCall: a request sent on a call's stream turns it into SSE and
// gets the answer Deliver hands it; the client's error comes back as one;
// the session's end fails what still waits.
func TestStreamCall(t *testing.T) {
	e := newEntry()
	rec := httptest.NewRecorder()
	s := NewStream(rec, e)
	type result struct {
		raw json.RawMessage
		err error
	}
	call := func() chan result {
		ch := make(chan result, 1)
		go func() {
			raw, err := s.Call(context.Background(), "roots/list", map[string]any{})
			ch <- result{raw, err}
		}()
		return ch
	}

	ch := call()
	id := waitingID(t, e)
	if !strings.HasPrefix(id, IDPrefix) || e.Deliver("argus-lean-none", Reply{}) {
		t.Fatalf("id %q", id)
	}
	e.Deliver(id, Reply{Result: json.RawMessage(`{"roots":[]}`)})
	if r := <-ch; r.err != nil || string(r.raw) != `{"roots":[]}` {
		t.Fatalf("answer %s %v", r.raw, r.err)
	}

	ch = call()
	e.Deliver(waitingID(t, e), Reply{Err: &jsonrpc.Error{Code: -1, Message: "no"}})
	if r := <-ch; r.err == nil || !strings.Contains(r.err.Error(), "no") {
		t.Fatalf("client error: %v", r.err)
	}

	ch = call()
	waitingID(t, e)
	e.close()
	if r := <-ch; r.err == nil {
		t.Fatal("a request waiting when the session closed got no error")
	}
	if _, err := s.Call(context.Background(), "roots/list", nil); err == nil {
		t.Fatal("Call on a closed session succeeded")
	}

	s.Finish(json.RawMessage(`1`), nil, nil)
	body := rec.Body.String()
	if rec.Header().Get("Content-Type") != "text/event-stream" || strings.Count(body, `"method":"roots/list"`) != 3 ||
		!strings.Contains(body, `data: {"jsonrpc":"2.0","id":1,"result":{}}`) {
		t.Fatalf("%s\n%s", rec.Header(), body)
	}
	if err := s.Notify(context.Background(), "notifications/message", nil); err != ErrStreamClosed {
		t.Fatalf("Notify after Finish: %v", err)
	}
}

// TestCallKey: ids the SDK takes for the same have one key; other values
// have none.
func TestCallKey(t *testing.T) {
	for _, same := range [][]string{
		{`"a"`, `"\u0061"`},
		{`12`, `1.2e1`, `12.0`, `12.7`},
		{`-3`, `-3.0`},
	} {
		want, ok := CallKey(json.RawMessage(same[0]))
		for _, raw := range same[1:] {
			if got, ok2 := CallKey(json.RawMessage(raw)); !ok || !ok2 || got != want {
				t.Errorf("CallKey(%s) = %q, CallKey(%s) = %q, want the same", same[0], want, raw, got)
			}
		}
	}
	str, _ := CallKey(json.RawMessage(`"1"`))
	num, _ := CallKey(json.RawMessage(`1`))
	if str == num {
		t.Error(`"1" and 1 have the same key`)
	}
	for _, raw := range []string{``, `"`, `"a`, `null`, `true`, `{}`, `[]`, `"\x"`} {
		if k, ok := CallKey(json.RawMessage(raw)); ok {
			t.Errorf("CallKey(%s) = %q, want none", raw, k)
		}
	}
}

// rawRes is a RawResult for the tests.
type rawRes struct {
	*mcp.CallToolResult
	raw json.RawMessage
}

func (r *rawRes) MarshalJSON() ([]byte, error) { return r.raw, nil }
func (r *rawRes) RawJSON() json.RawMessage     { return r.raw }

// TestFinishRawResult: a RawResult is written as it came, in the response
// encoding/json would write (the same JSON value), as JSON or as the SSE
// stream's last event; a result or id spread over lines, which an SSE data
// field cannot carry, an error and a nil result take encoding/json's way.
func TestFinishRawResult(t *testing.T) {
	text := `{"content":[{"type":"text","text":"a<b & \u2028 \"c\""}],"structuredContent":{"k":[1,2.5,null]}}`
	same := func(t *testing.T, got string, id json.RawMessage, res any) {
		t.Helper()
		want, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "result": res})
		if err != nil {
			t.Fatal(err)
		}
		var g, w any
		if err := json.Unmarshal([]byte(got), &g); err != nil {
			t.Fatalf("response %q: %v", got, err)
		}
		if err := json.Unmarshal(want, &w); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("response %s\nwant the same value as %s", got, want)
		}
	}
	for _, id := range []string{`7`, `"x-1"`, `-2.5e3`} {
		rec := httptest.NewRecorder()
		NewStream(rec, newEntry()).Finish(json.RawMessage(id), &rawRes{&mcp.CallToolResult{}, json.RawMessage(text)}, nil)
		if want := `{"jsonrpc":"2.0","id":` + id + `,"result":` + text + `}`; rec.Body.String() != want {
			t.Fatalf("id %s: body %s, want the backend's bytes in %s", id, rec.Body, want)
		}
		same(t, rec.Body.String(), json.RawMessage(id), json.RawMessage(text))
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type %q", ct)
		}
	}

	// On an SSE stream (a message went first), the last event.
	rec := httptest.NewRecorder()
	s := NewStream(rec, newEntry())
	if err := s.Notify(context.Background(), "notifications/message", map[string]any{"level": "info"}); err != nil {
		t.Fatal(err)
	}
	s.Finish(json.RawMessage(`3`), &rawRes{&mcp.CallToolResult{}, json.RawMessage(text)}, nil)
	if !strings.HasSuffix(rec.Body.String(), "data: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":"+text+"}\n\n") {
		t.Fatalf("SSE body %q", rec.Body)
	}

	// Spread over lines: compacted by encoding/json, one data line.
	spread := "{\n  \"content\": [\r\n {\"type\":\"text\",\"text\":\"x\"}]\n}"
	for _, tc := range []struct {
		id  string
		raw string
	}{{`1`, spread}, {"\n1", text}} {
		rec = httptest.NewRecorder()
		s = NewStream(rec, newEntry())
		_ = s.Notify(context.Background(), "notifications/message", nil)
		s.Finish(json.RawMessage(tc.id), &rawRes{&mcp.CallToolResult{}, json.RawMessage(tc.raw)}, nil)
		events := strings.Split(strings.TrimSuffix(rec.Body.String(), "\n\n"), "\n\n")
		last := events[len(events)-1]
		if strings.Count(last, "\n") != 1 || !strings.HasPrefix(last, "event: message\ndata: {") {
			t.Fatalf("id %q, result %q: last event %q, want one data line", tc.id, tc.raw, last)
		}
		same(t, strings.TrimPrefix(last, "event: message\ndata: "), json.RawMessage(strings.TrimSpace(tc.id)), json.RawMessage(tc.raw))
	}

	// An error wins over the result; a nil RawResult is an empty result.
	rec = httptest.NewRecorder()
	NewStream(rec, newEntry()).Finish(json.RawMessage(`4`), &rawRes{&mcp.CallToolResult{}, json.RawMessage(text)}, &jsonrpc.Error{Code: -32000, Message: "no"})
	if got := rec.Body.String(); got != `{"jsonrpc":"2.0","id":4,"error":{"code":-32000,"message":"no"}}` {
		t.Fatalf("error response %s", got)
	}
	rec = httptest.NewRecorder()
	var nilRaw *rawRes
	NewStream(rec, newEntry()).Finish(json.RawMessage(`5`), nilRaw, nil)
	if got := rec.Body.String(); got != `{"jsonrpc":"2.0","id":5,"result":{}}` {
		t.Fatalf("nil result response %s", got)
	}
}

// BenchmarkFinish: writing a tools/call answer the backend's bytes pass
// through (raw) against one encoding/json encodes (typed).
func BenchmarkFinish(b *testing.B) {
	text := json.RawMessage(`{"content":[{"type":"text","text":"hop session 3"}],"structuredContent":{"message":"hop session 3"}}`)
	var typed mcp.CallToolResult
	if err := json.Unmarshal(text, &typed); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		res  mcp.Result
	}{{"raw", &rawRes{&mcp.CallToolResult{}, text}}, {"typed", &typed}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			rec := httptest.NewRecorder()
			for b.Loop() {
				rec.Body.Reset()
				s := &Stream{w: rec, entry: nil}
				s.Finish(json.RawMessage(`12`), bc.res, nil)
			}
		})
	}
}

// TestStatelessStream: a stateless call's error answer carries the HTTP
// status SEP-2575 gives its code, as the SDK writes it; a result, other
// codes and any answer of a stateful call are 200; an error after a
// message went out is the SSE stream's last event; and a request sent on
// the stream fails, with no session to answer it.
func TestStatelessStream(t *testing.T) {
	for _, c := range []struct {
		stateless bool
		err       error
		status    int
	}{
		{true, &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: "m"}, 404},
		{true, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "m"}, 400},
		{true, &jsonrpc.Error{Code: mcp.CodeUnsupportedProtocolVersion, Message: "m"}, 400},
		{true, &jsonrpc.Error{Code: mcp.CodeMissingRequiredClientCapabilities, Message: "m"}, 400},
		{true, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "m"}, 200},
		{true, nil, 200},
		{false, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "m"}, 200},
	} {
		w := httptest.NewRecorder()
		st := NewStream(w, newEntry())
		if c.stateless {
			st = NewStream(w, nil)
		}
		var res mcp.Result
		if c.err == nil {
			res = &mcp.CallToolResult{Content: []mcp.Content{}}
		}
		st.Finish(json.RawMessage(`1`), res, c.err)
		if w.Code != c.status || w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("stateless %v, %v: HTTP %d %s, want %d application/json", c.stateless, c.err, w.Code, w.Header().Get("Content-Type"), c.status)
		}
	}

	w := httptest.NewRecorder()
	st := NewStream(w, nil)
	if err := st.Notify(context.Background(), "notifications/progress", map[string]any{"progress": 1}); err != nil {
		t.Fatal(err)
	}
	st.Finish(json.RawMessage(`1`), nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "m"})
	if body := w.Body.String(); w.Code != 200 || strings.Count(body, "event: message") != 2 || !strings.Contains(body, `-32602`) {
		t.Errorf("error after a notification: HTTP %d\n%s", w.Code, body)
	}
	if _, err := NewStream(httptest.NewRecorder(), nil).Call(context.Background(), "roots/list", nil); err != ErrNoSession {
		t.Errorf("a request on a stateless stream: %v, want ErrNoSession", err)
	}
}
