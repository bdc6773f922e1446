package gateway_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// leanClient speaks raw streamable HTTP to one session, so the test sees
// each response's media type: the lean path answers application/json (or
// SSE once the call sends something first), the SDK always SSE.
type leanClient struct {
	t      *testing.T
	url    string
	sid    string
	client *http.Client // nil: http.DefaultClient
}

// headers sets the headers of a request of the session on req.
func (c *leanClient) headers(req *http.Request) {
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-11-25")
	if c.sid != "" {
		req.Header.Set("Mcp-Session-Id", c.sid)
	}
}

func (c *leanClient) post(body string, header map[string]string) *http.Response {
	c.t.Helper()
	req, _ := http.NewRequest("POST", c.url, strings.NewReader(body))
	c.headers(req)
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	hc := c.client
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp
}

func openLeanSession(t *testing.T, url, caps string) *leanClient {
	t.Helper()
	c := &leanClient{t: t, url: url}
	resp := c.post(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":`+caps+`,"clientInfo":{"name":"lean-test","version":"1"}}}`, nil)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if c.sid = resp.Header.Get("Mcp-Session-Id"); resp.StatusCode != 200 || c.sid == "" {
		t.Fatalf("initialize: HTTP %d, session %q", resp.StatusCode, c.sid)
	}
	resp = c.post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`, nil)
	resp.Body.Close()
	return c
}

// sseEvents reads the data of each SSE event of body.
func sseEvents(t *testing.T, body io.Reader) <-chan map[string]any {
	ch := make(chan map[string]any, 8)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var m map[string]any
				if json.Unmarshal([]byte(d), &m) != nil {
					t.Errorf("SSE event is not JSON: %s", d)
					return
				}
				ch <- m
			}
		}
	}()
	return ch
}

func nextEvent(t *testing.T, ch <-chan map[string]any) map[string]any {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("the SSE stream ended early")
		}
		return m
	case <-time.After(30 * time.Second):
		t.Fatal("no SSE event within 30s")
	}
	return nil
}

// TestE2ELeanPath: tools/call on an existing session is served off the
// SDK's path and answers the same; a call that needs the client during
// its run gets an SSE stream carrying the backend's request, whose answer
// the client posts back; a cancelled call ends at once; requests the lean
// path does not serve get the SDK's answer as before.
func TestE2ELeanPath(t *testing.T) {
	url, _ := startArgus(t, demoStdio(t, "alpha")+`audit {
  enabled = false
}
`)
	c := openLeanSession(t, url, `{"roots":{"listChanged":true}}`)

	t.Run("plain call is application/json", func(t *testing.T) {
		resp := c.post(`{"jsonrpc":"2.0","id":"e1","method":"tools/call","params":{"name":"alpha_echo","arguments":{"message":"lean"}}}`, nil)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "application/json" {
			t.Fatalf("HTTP %d %s: %s", resp.StatusCode, ct, b)
		}
		var m struct {
			ID     string `json:"id"`
			Result struct {
				Content []struct{ Text string } `json:"content"`
			} `json:"result"`
		}
		if err := json.Unmarshal(b, &m); err != nil || m.ID != "e1" || len(m.Result.Content) != 1 || m.Result.Content[0].Text != "lean" {
			t.Fatalf("answer %s (%v)", b, err)
		}
	})

	t.Run("unknown tool is a JSON-RPC error", func(t *testing.T) {
		resp := c.post(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"nope","arguments":{}}}`, nil)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		m := rpcMessage(t, string(b))
		e, _ := m["error"].(map[string]any)
		if e == nil || e["code"] != float64(-32602) || !strings.Contains(e["message"].(string), `unknown tool "nope"`) || m["id"] != float64(2) {
			t.Fatalf("answer %s", b)
		}
	})

	t.Run("backend request mid-call goes on the call's SSE stream", func(t *testing.T) {
		resp := c.post(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"alpha_roots","arguments":{}}}`, nil)
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("Content-Type %q, want text/event-stream", ct)
		}
		events := sseEvents(t, resp.Body)
		req := nextEvent(t, events)
		id, _ := req["id"].(string)
		if req["method"] != "roots/list" || !strings.HasPrefix(id, "argus-lean-") {
			t.Fatalf("first event %v, want a roots/list request", req)
		}
		answer := c.post(`{"jsonrpc":"2.0","id":"`+id+`","result":{"roots":[{"uri":"file:///lean-root","name":"lean"}]}}`, nil)
		answer.Body.Close()
		if answer.StatusCode != http.StatusAccepted {
			t.Fatalf("posting the answer: HTTP %d, want 202", answer.StatusCode)
		}
		res := nextEvent(t, events)
		b, _ := json.Marshal(res)
		if res["id"] != float64(3) || !strings.Contains(string(b), "file:///lean-root") {
			t.Fatalf("result %s", b)
		}
	})

	t.Run("notifications/cancelled ends a lean call", func(t *testing.T) {
		done := make(chan string, 1)
		start := time.Now()
		go func() {
			resp := c.post(`{"jsonrpc":"2.0","id":"slow-1","method":"tools/call","params":{"name":"alpha_sleep","arguments":{"ms":30000}}}`, nil)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			done <- string(b)
		}()
		var cancelled bool
		for i := 0; i < 100 && !cancelled; i++ {
			time.Sleep(50 * time.Millisecond)
			resp := c.post(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"slow-1","reason":"test"}}`, nil)
			resp.Body.Close()
			cancelled = resp.StatusCode == http.StatusAccepted
		}
		select {
		case b := <-done:
			if took := time.Since(start); took > 20*time.Second {
				t.Fatalf("cancelled call took %v: %s", took, b)
			}
			if !strings.Contains(b, `"error"`) {
				t.Fatalf("cancelled call answered %s, want an error", b)
			}
		case <-time.After(25 * time.Second):
			t.Fatal("the cancelled call did not end")
		}
	})

	t.Run("what the SDK judges stays with the SDK", func(t *testing.T) {
		// Accept without text/event-stream: the SDK refuses the POST.
		resp := c.post(`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"alpha_echo","arguments":{"message":"x"}}}`,
			map[string]string{"Accept": "application/json"})
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("Accept: application/json only: HTTP %d %s, want 400", resp.StatusCode, b)
		}
		// Params the SDK would not decode: its invalid-params error, as
		// before.
		resp = c.post(`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":7,"arguments":{}}}`, nil)
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" || !strings.Contains(string(b), `"code":-32602`) {
			t.Fatalf("undecodable params: %s %s, want the SDK's SSE error", ct, b)
		}
		// A session nobody opened: the SDK's 404.
		other := &leanClient{t: t, url: url, sid: "no-such-session"}
		resp = other.post(`{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"alpha_echo","arguments":{"message":"x"}}}`, nil)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("unknown session: HTTP %d, want 404", resp.StatusCode)
		}
	})
}
