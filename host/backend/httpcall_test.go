package backend

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/config"
)

// scripted answers the tools/call requests for the tools in its script
// itself, whoever sends them (Conn.Call, or the SDK's own session to
// compare with), and passes everything else to a real go-sdk server: so a
// session is established as usual, and a call's answer can be any HTTP
// response a backend might send. resume, if set, answers a GET with
// Last-Event-ID (a resumed stream), given the last scripted call's id.
type scripted struct {
	next   http.Handler
	script map[string]func(w http.ResponseWriter, r *http.Request, id json.RawMessage)
	resume func(w http.ResponseWriter, r *http.Request, id json.RawMessage)
	mu     sync.Mutex
	lastID json.RawMessage
	gets   []string // Last-Event-ID of each resumption
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.Header.Get(lastEventIDHeader) != "" && s.resume != nil {
		s.mu.Lock()
		s.gets = append(s.gets, r.Header.Get(lastEventIDHeader))
		id := s.lastID
		s.mu.Unlock()
		s.resume(w, r, id)
		return
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var m toolCall
	if json.Unmarshal(body, &m) == nil && m.Method == "tools/call" {
		if f := s.script[m.Params.Name]; f != nil {
			s.mu.Lock()
			s.lastID = m.ID
			s.mu.Unlock()
			f(w, r, m.ID)
			return
		}
	}
	s.next.ServeHTTP(w, r)
}

func (s *scripted) resumed() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.gets...)
}

// sse writes events as a stream and ends it.
func sse(w http.ResponseWriter, events ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	for _, e := range events {
		fmt.Fprint(w, e)
		w.(http.Flusher).Flush()
	}
}

// answerFor is a plain tools/call answer with one text block.
func answerFor(id json.RawMessage, text string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":%q}]}}`, id, text)
}

// realServer is a go-sdk streamable HTTP server whose tools talk to the
// client during a call: progress, a log message, a roots/list request.
func realServer() *mcp.Server {
	server := mcp.NewServer(&mcp.Implementation{Name: "httpcall-test", Version: "0"}, nil)
	text := func(s string) []mcp.Content { return []mcp.Content{&mcp.TextContent{Text: s}} }
	mcp.AddTool(server, &mcp.Tool{Name: "echo"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: text("echo")}, nil, nil
	})
	mcp.AddTool(server, &mcp.Tool{Name: "progress"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		for i := range 3 {
			if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(), Progress: float64(i + 1), Total: 3}); err != nil {
				return nil, nil, err
			}
		}
		return &mcp.CallToolResult{Content: text("done")}, nil, nil
	})
	mcp.AddTool(server, &mcp.Tool{Name: "roots"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		// Bounded: a call cancelled at once may have its cancellation
		// reach this server before the call itself (two POSTs), and the
		// request to the client then goes unanswered.
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		res, err := req.Session.ListRoots(ctx, nil)
		if err != nil {
			return nil, nil, err
		}
		return &mcp.CallToolResult{Content: text(fmt.Sprintf("%d roots, first %s", len(res.Roots), res.Roots[0].URI))}, nil, nil
	})
	return server
}

// dialHTTP connects to a backend at url as the gateway does (an observed
// connection), with a client that has one root and records progress.
func dialHTTP(t *testing.T, url string, progress func(*mcp.ProgressNotificationClientRequest)) *Conn {
	t.Helper()
	cfg := config.Backend{Name: "b", Type: config.TypeStreamableHTTP, URL: url, ProtocolVersion: "2025-11-25",
		ConnectTimeout: 30 * time.Second, CallTimeout: 30 * time.Second}
	c, err := Dial(context.Background(), cfg, Options{Logger: hclog.NewNullLogger(),
		Client:        &mcp.Implementation{Name: "argus", Version: "test"},
		ClientOptions: &mcp.ClientOptions{ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) { progress(r) }},
		OnClient:      func(c *mcp.Client) { c.AddRoots(&mcp.Root{URI: "file:///work", Name: "work"}) },
		OnRead:        func(jsonrpc.Message) {}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if !c.RawCalls() {
		t.Fatalf("RawCalls false for a %s backend", c.ProtocolVersion())
	}
	return c
}

// progressLog records the progress notifications a client is sent.
type progressLog struct {
	mu   sync.Mutex
	seen []float64
}

func (p *progressLog) record(r *mcp.ProgressNotificationClientRequest) {
	p.mu.Lock()
	p.seen = append(p.seen, r.Params.Progress)
	p.mu.Unlock()
}

func (p *progressLog) list() []float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.seen)
}

// waitFor waits up to 10s for cond to hold on the progress seen so far.
func (p *progressLog) waitFor(t *testing.T, what string, cond func([]float64) bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(p.list()); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: the client saw progress %v", what, p.list())
		}
	}
}

func textOf(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var res mcp.CallToolResult
	if err := json.Unmarshal(raw, &res); err != nil || len(res.Content) == 0 {
		t.Fatalf("result %s: %v", raw, err)
	}
	return res.Content[0].(*mcp.TextContent).Text
}

// TestHTTPCallTalksToTheSession: what a call's stream carries besides its
// answer reaches the SDK's session in the stream's order, the answer after
// it (through the session, not straight to the caller): the client sees
// every progress notification, and a backend's request mid-call
// (roots/list) is answered by the client. A plain answer first on its
// response, on an SSE stream or as a JSON body, goes straight to the
// caller.
func TestHTTPCallTalksToTheSession(t *testing.T) {
	s := &scripted{next: mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return realServer() }, nil),
		script: map[string]func(http.ResponseWriter, *http.Request, json.RawMessage){
			"json": func(w http.ResponseWriter, _ *http.Request, id json.RawMessage) {
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
				fmt.Fprint(w, answerFor(id, "from json"))
			},
			"multiline": func(w http.ResponseWriter, _ *http.Request, id json.RawMessage) {
				// An answer spread over data lines, after a comment and
				// an event of another name.
				a := strings.Replace(answerFor(id, "joined"), `,"result"`, "\ndata: ,\"result\"", 1)
				sse(w, ": hello\n\n", "event: other\ndata: {}\n\n", "event: message\ndata: "+a+"\n\n")
			},
		}}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	progress := &progressLog{}
	c := dialHTTP(t, ts.URL, progress.record)
	ctx := context.Background()

	h := c.raw.http
	raw, err := c.Call(ctx, "tools/call", json.RawMessage(`{"name":"progress","arguments":{},"_meta":{"progressToken":"p1"}}`))
	if err != nil || textOf(t, raw) != "done" {
		t.Fatalf("progress: %s %v", raw, err)
	}
	// The SDK's session handles notifications on a goroutine of their own,
	// so they may still be on their way when the call returns (its own
	// calls are no different).
	progress.waitFor(t, "progress [1 2 3]", func(seen []float64) bool { return fmt.Sprint(seen) == "[1 2 3]" })

	raw, err = c.Call(ctx, "tools/call", json.RawMessage(`{"name":"roots","arguments":{}}`))
	if err != nil || textOf(t, raw) != "1 roots, first file:///work" {
		t.Fatalf("roots: %s %v", raw, err)
	}
	if d, h := h.direct.Load(), h.handed.Load(); d != 0 || h != 2 {
		t.Fatalf("answers after other messages: %d plain, %d through the session, want 0 and 2", d, h)
	}
	for name, want := range map[string]string{"echo": "echo", "json": "from json", "multiline": "joined"} {
		raw, err := c.Call(ctx, "tools/call", json.RawMessage(`{"name":"`+name+`","arguments":{}}`))
		if err != nil || textOf(t, raw) != want {
			t.Fatalf("%s: %s %v, want %q", name, raw, err, want)
		}
	}
	if d, h := h.direct.Load(), h.handed.Load(); d != 3 || h != 2 {
		t.Fatalf("plain answers: %d plain, %d through the session, want 3 and 2", d, h)
	}
	if _, err := c.Session().CallTool(ctx, &mcp.CallToolParams{Name: "echo"}); err != nil {
		t.Fatalf("the SDK's own call beside them: %v", err)
	}
}

// TestHTTPCallResumes: a stream that ends after an event ID but before
// the answer is resumed with GET and Last-Event-ID after the delay the
// server asked for; one without an ID cannot be, and the call fails; one
// that never makes progress ends the session after the retries.
func TestHTTPCallResumes(t *testing.T) {
	var resumeWith atomic.Value // what the next resumption answers
	s := &scripted{next: mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return realServer() }, nil),
		script: map[string]func(http.ResponseWriter, *http.Request, json.RawMessage){
			"cut": func(w http.ResponseWriter, _ *http.Request, id json.RawMessage) {
				resumeWith.Store(func(w http.ResponseWriter, _ *http.Request, id json.RawMessage) {
					sse(w, "id: e2\ndata: "+answerFor(id, "resumed")+"\n\n")
				})
				sse(w, "id: e1\nretry: 10\ndata:\n\n")
			},
			"stuck": func(w http.ResponseWriter, _ *http.Request, _ json.RawMessage) {
				// Resumed, it says the same event again and ends: no progress.
				resumeWith.Store(func(w http.ResponseWriter, _ *http.Request, _ json.RawMessage) {
					sse(w, "id: s1\nretry: 10\ndata:\n\n")
				})
				sse(w, "id: s1\nretry: 10\ndata:\n\n")
			},
			"gone": func(w http.ResponseWriter, _ *http.Request, _ json.RawMessage) {
				sse(w, "data: "+`{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}`+"\n\n")
			},
		}}
	s.resume = func(w http.ResponseWriter, r *http.Request, id json.RawMessage) {
		resumeWith.Load().(func(http.ResponseWriter, *http.Request, json.RawMessage))(w, r, id)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	c := dialHTTP(t, ts.URL, func(*mcp.ProgressNotificationClientRequest) {})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	raw, err := c.Call(ctx, "tools/call", json.RawMessage(`{"name":"cut","arguments":{}}`))
	if err != nil || textOf(t, raw) != "resumed" {
		t.Fatalf("cut: %s %v", raw, err)
	}
	if got := s.resumed(); fmt.Sprint(got) != "[e1]" {
		t.Fatalf("resumed with Last-Event-ID %q, want [e1]", got)
	}
	if _, err := c.Call(ctx, "tools/call", json.RawMessage(`{"name":"gone","arguments":{}}`)); !errors.Is(err, errNoAnswer) {
		t.Fatalf("gone: %v, want %v", err, errNoAnswer)
	}
	if _, err := c.Call(ctx, "tools/call", json.RawMessage(`{"name":"echo","arguments":{}}`)); err != nil {
		t.Fatalf("after a call without an answer the session goes on: %v", err)
	}
	_, err = c.Call(ctx, "tools/call", json.RawMessage(`{"name":"stuck","arguments":{}}`))
	if err == nil || !strings.Contains(err.Error(), "exceeded 2 retries without progress") {
		t.Fatalf("stuck: %v, want the retries exceeded", err)
	}
	waitDone(t, c, "retries exceeded")
}

func waitDone(t *testing.T, c *Conn, why string) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: the session did not end", why)
	}
}

// TestHTTPCallStatus: an answer that is not 2xx, of the wrong type, or of
// another session is the call's error with what the backend said; as in
// the SDK's transport, 429/502/503/504 and a JSON-RPC error in the body
// leave the session as it is, and so does 413 (unlike the SDK's: the
// backend refused one request for its size); 404 (the session is gone)
// and any other status end it.
func TestHTTPCallStatus(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(w http.ResponseWriter, r *http.Request, id json.RawMessage)
		want   string
		ends   bool
	}{
		{"busy", func(w http.ResponseWriter, _ *http.Request, _ json.RawMessage) {
			w.WriteHeader(http.StatusServiceUnavailable)
		}, "Service Unavailable", false},
		{"rpc-error", func(w http.ResponseWriter, _ *http.Request, id json.RawMessage) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32602,"message":"bad arguments here"}}`, id)
		}, "bad arguments here", false},
		{"other-session", func(w http.ResponseWriter, _ *http.Request, id json.RawMessage) {
			w.Header().Set(sessionIDHeader, "someone-else")
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, answerFor(id, "x"))
		}, "mismatching session IDs", false},
		{"text", func(w http.ResponseWriter, _ *http.Request, _ json.RawMessage) {
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprint(w, "hello")
		}, `unsupported content type "text/plain"`, false},
		{"not-json", func(w http.ResponseWriter, _ *http.Request, _ json.RawMessage) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, "{nope")
		}, "decoding the answer", false},
		{"json-without-answer", func(w http.ResponseWriter, _ *http.Request, _ json.RawMessage) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}`)
		}, errNoAnswer.Error(), false},
		{"malformed-sse", func(w http.ResponseWriter, _ *http.Request, _ json.RawMessage) { sse(w, "this is no field\n\n") }, "a line without a field", false},
		{"too-large", func(w http.ResponseWriter, _ *http.Request, _ json.RawMessage) {
			http.Error(w, "request body exceeds 4194304 bytes", http.StatusRequestEntityTooLarge)
		}, "Request Entity Too Large", false},
		{"crash", func(w http.ResponseWriter, _ *http.Request, _ json.RawMessage) {
			http.Error(w, "boom", http.StatusInternalServerError)
		}, "Internal Server Error", true},
		{"gone", func(w http.ResponseWriter, _ *http.Request, _ json.RawMessage) { http.NotFound(w, nil) }, mcp.ErrSessionMissing.Error(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &scripted{next: mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return realServer() }, nil),
				script: map[string]func(http.ResponseWriter, *http.Request, json.RawMessage){"x": tc.answer}}
			ts := httptest.NewServer(s)
			t.Cleanup(ts.Close)
			c := dialHTTP(t, ts.URL, func(*mcp.ProgressNotificationClientRequest) {})
			_, err := c.Call(context.Background(), "tools/call", json.RawMessage(`{"name":"x","arguments":{}}`))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `sending "tools/call"`) {
				t.Fatalf("error %v, want one naming the request and %q", err, tc.want)
			}
			if tc.ends {
				waitDone(t, c, tc.name)
				return
			}
			if _, err := c.Call(context.Background(), "tools/call", json.RawMessage(`{"name":"echo","arguments":{}}`)); err != nil {
				t.Fatalf("the session after it: %v", err)
			}
		})
	}
}

// TestReadEvent: server-sent events read with the SDK client's rules.
func TestReadEvent(t *testing.T) {
	type ev struct{ Name, ID, Retry, Data string }
	for _, tc := range []struct {
		in   string
		want []ev
		err  string
	}{
		{"data: a\n\n", []ev{{Data: "a"}}, ""},
		{"\n\nid: 1\r\nevent: message\r\ndata: a\r\ndata: b\r\n\r\n", []ev{{"message", "1", "", "a\nb"}}, ""},
		{": comment\ndata:x\n\ndata: y", []ev{{Data: "x"}, {Data: "y"}}, ""}, // the last cut off by the end
		{"retry: 10\ndata:\n\n", []ev{{Retry: "10"}}, ""},
		{strings.Repeat("\n", 100) + "data: a\n\n", []ev{{Data: "a"}}, ""}, // blank lines count toward no event's size
		{"data: a\nnot a field\n\n", nil, "a line without a field"},
		{"data: " + strings.Repeat("x", 100) + "\n\n", nil, "exceeded 64 bytes"},
		{"data: " + strings.Repeat("x", 30) + "\ndata: " + strings.Repeat("y", 30) + "\n\n", nil, "exceeded 64 bytes"},
	} {
		r := bufio.NewReaderSize(strings.NewReader(tc.in), 16) // lines longer than the buffer
		var got []ev
		var err error
		for {
			var e sseEvent
			e, err = readEvent(r, 64)
			if e.name != "" || e.id != "" || e.retry != "" || e.data != nil {
				got = append(got, ev{e.name, e.id, e.retry, string(e.data)})
			}
			if err != nil {
				break
			}
		}
		if tc.err != "" {
			if !errors.Is(err, errMalformedEvent) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != io.EOF || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%q: %+v (%v), want %+v", tc.in, got, err, tc.want)
		}
	}

	// A stream broken off mid-event: the events before it count, the cut
	// one does not.
	r := bufio.NewReader(io.MultiReader(strings.NewReader("data: a\n\nid: 2\ndata: {\"cut"), iotest.ErrReader(io.ErrUnexpectedEOF)))
	if e, err := readEvent(r, 64); err != nil || string(e.data) != "a" {
		t.Fatalf("before the break: %q %v", e.data, err)
	}
	if e, err := readEvent(r, 64); !errors.Is(err, io.ErrUnexpectedEOF) || e.id != "" || e.data != nil {
		t.Fatalf("the cut event: %+v %v, want nothing and the break", e, err)
	}
}

// TestHTTPCallTooLargeForTheBackend: a request larger than a go-sdk
// server takes (4 MiB) fails with its 413, and the session, shared by
// every client of the backend, goes on.
func TestHTTPCallTooLargeForTheBackend(t *testing.T) {
	ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return realServer() }, nil))
	t.Cleanup(ts.Close)
	c := dialHTTP(t, ts.URL, func(*mcp.ProgressNotificationClientRequest) {})
	big := json.RawMessage(`{"name":"echo","arguments":{"text":"` + strings.Repeat("x", mcp.DefaultMaxRequestBodyBytes) + `"}}`)
	if _, err := c.Call(context.Background(), "tools/call", big); err == nil || !strings.Contains(err.Error(), "Request Entity Too Large") {
		t.Fatalf("a request of %d bytes: %v, want the backend's 413", len(big), err)
	}
	if _, err := c.Call(context.Background(), "tools/call", json.RawMessage(`{"name":"echo","arguments":{}}`)); err != nil {
		t.Fatalf("the session after it: %v", err)
	}
	// The SDK's client, which takes the calls of the stateless revision
	// and every other method, ends its session on a 413 unless the body
	// is a JSON-RPC error: tooLargeTransport makes it one.
	args := map[string]any{"text": strings.Repeat("x", mcp.DefaultMaxRequestBodyBytes)}
	_, err := c.Session().CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: args})
	var rpcErr *jsonrpc.Error
	if !errors.As(err, &rpcErr) || rpcErr.Code != jsonrpc.CodeInvalidRequest ||
		rpcErr.Message != "the backend refused the request for its size (HTTP 413 Request Entity Too Large)" {
		t.Fatalf("the SDK's call too large: %v, want the backend's 413 as a JSON-RPC error", err)
	}
	if _, err := c.Session().CallTool(context.Background(), &mcp.CallToolParams{Name: "echo"}); err != nil {
		t.Fatalf("the SDK's session after it: %v", err)
	}
}

// TestHTTPStandaloneStream: what a streamable-HTTP backend sends outside
// any call (here tools/list_changed, on the stream a client opens with GET
// once initialized) reaches the session. The SDK's client opens that
// stream only when it sees its own connection, so through Argus's
// observing wrapper no such message arrived.
func TestHTTPStandaloneStream(t *testing.T) {
	server := realServer()
	ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))
	t.Cleanup(ts.Close)
	changed := make(chan struct{}, 4)
	cfg := config.Backend{Name: "b", Type: config.TypeStreamableHTTP, URL: ts.URL, ProtocolVersion: "2025-11-25",
		ConnectTimeout: 30 * time.Second, CallTimeout: 30 * time.Second}
	c, err := Dial(context.Background(), cfg, Options{Logger: hclog.NewNullLogger(),
		Client: &mcp.Implementation{Name: "argus", Version: "test"},
		ClientOptions: &mcp.ClientOptions{ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			changed <- struct{}{}
		}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// The stream opens beside the first calls; a change made before it is
	// open reaches no one, so keep making them until one arrives.
	deadline := time.After(20 * time.Second)
	for i := 0; ; i++ {
		mcp.AddTool(server, &mcp.Tool{Name: fmt.Sprintf("added-%d", i)}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{}, nil, nil
		})
		select {
		case <-changed:
			if _, err := c.Call(context.Background(), "tools/call", json.RawMessage(`{"name":"echo","arguments":{}}`)); err != nil {
				t.Fatalf("a call after the notification: %v", err)
			}
			return
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatal("no tools/list_changed reached the session within 20s")
		}
	}
}
