package session

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
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
