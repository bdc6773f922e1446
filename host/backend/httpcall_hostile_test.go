package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestHTTPCallCloseDuringIdleStream: a call whose SSE stream is open but
// quiet ends when the connection closes, by Close or because the session
// failed, with the connection's error, not only when its context ends.
// (Found by a review: the first version of the HTTP path waited for the
// stream alone.)
func TestHTTPCallCloseDuringIdleStream(t *testing.T) {
	for _, how := range []string{"Close", "session-fails"} {
		t.Run(how, func(t *testing.T) {
			release := make(chan struct{})
			s := &scripted{next: mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return realServer() }, nil),
				script: map[string]func(http.ResponseWriter, *http.Request, json.RawMessage){
					"idle": func(w http.ResponseWriter, r *http.Request, _ json.RawMessage) {
						sse(w, "id: i1\ndata:\n\n")
						select {
						case <-r.Context().Done():
						case <-release:
						}
					},
					"crash": func(w http.ResponseWriter, _ *http.Request, _ json.RawMessage) {
						http.Error(w, "boom", http.StatusInternalServerError)
					},
				}}
			ts := httptest.NewServer(s)
			t.Cleanup(ts.Close)
			t.Cleanup(func() { close(release) })
			c := dialHTTP(t, ts.URL, func(*mcp.ProgressNotificationClientRequest) {})

			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
			defer cancel()
			type result struct {
				err error
				in  time.Duration
			}
			done := make(chan result, 1)
			start := time.Now()
			go func() {
				_, err := c.Call(ctx, "tools/call", json.RawMessage(`{"name":"idle","arguments":{}}`))
				done <- result{err, time.Since(start)}
			}()
			time.Sleep(300 * time.Millisecond) // the call is reading its stream
			if how == "Close" {
				c.Close()
			} else {
				_, err := c.Call(context.Background(), "tools/call", json.RawMessage(`{"name":"crash","arguments":{}}`))
				t.Logf("crash: %v", err)
				waitDone(t, c, "crash")
			}
			ended := time.Now()
			r := <-done
			t.Logf("idle call: %v after %v (%v after the session ended)", r.err, r.in, time.Since(ended))
			if time.Since(ended) > 2*time.Second || !errors.Is(r.err, errConnClosed) {
				t.Fatalf("the call outlived its connection by %v and ended with %v, want %v", time.Since(ended), r.err, errConnClosed)
			}
		})
	}
}

// TestHTTPCallBrokenStreamResumes: a stream that breaks in the middle of an
// event (the connection drops) is resumed from the last complete event's
// ID, and the cut-off event dropped, as the SDK's client does.
func TestHTTPCallBrokenStreamResumes(t *testing.T) {
	s := &scripted{next: mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return realServer() }, nil),
		script: map[string]func(http.ResponseWriter, *http.Request, json.RawMessage){
			"broken": func(w http.ResponseWriter, _ *http.Request, id json.RawMessage) {
				sse(w, "id: e1\nretry: 10\ndata:\n\n", `id: e2`+"\n"+`data: {"jsonrpc":"2.0","id":`)
				panic(http.ErrAbortHandler) // the connection drops mid-event
			},
		}}
	s.resume = func(w http.ResponseWriter, r *http.Request, id json.RawMessage) {
		sse(w, "id: e3\ndata: "+answerFor(id, "resumed")+"\n\n")
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	c := dialHTTP(t, ts.URL, func(*mcp.ProgressNotificationClientRequest) {})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	res, err := c.Session().CallTool(ctx, &mcp.CallToolParams{Name: "broken", Arguments: map[string]any{}})
	if err != nil {
		t.Fatalf("the SDK's transport: %v", err)
	}
	t.Logf("the SDK's transport: %q", res.Content[0].(*mcp.TextContent).Text)

	raw, err := c.Call(ctx, "tools/call", json.RawMessage(`{"name":"broken","arguments":{}}`))
	if err != nil {
		t.Fatalf("Argus: %v, want the stream resumed as the SDK's transport resumes it", err)
	}
	t.Logf("Argus: %q", textOf(t, raw))
}

// TestHTTPCallResumedStreamWithoutID: a resumed stream that ends without an
// event ID fails the call (request terminated without response) and the
// session goes on, as with the SDK's transport.
func TestHTTPCallResumedStreamWithoutID(t *testing.T) {
	s := &scripted{next: mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return realServer() }, nil),
		script: map[string]func(http.ResponseWriter, *http.Request, json.RawMessage){
			"stuck": func(w http.ResponseWriter, _ *http.Request, _ json.RawMessage) {
				sse(w, "id: s1\nretry: 10\ndata:\n\n")
			},
		}}
	s.resume = func(w http.ResponseWriter, r *http.Request, _ json.RawMessage) {
		sse(w, "retry: 10\ndata:\n\n")
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	c := dialHTTP(t, ts.URL, func(*mcp.ProgressNotificationClientRequest) {})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	_, err := c.Session().CallTool(ctx, &mcp.CallToolParams{Name: "stuck", Arguments: map[string]any{}})
	t.Logf("the SDK's transport: %v", err)
	if _, err := c.Session().CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{}}); err != nil {
		t.Fatalf("the SDK's transport ended the session: %v", err)
	}

	_, err = c.Call(ctx, "tools/call", json.RawMessage(`{"name":"stuck","arguments":{}}`))
	if !errors.Is(err, errNoAnswer) {
		t.Fatalf("Argus: %v, want %v", err, errNoAnswer)
	}
	time.Sleep(200 * time.Millisecond)
	select {
	case <-c.Done():
		t.Fatalf("Argus ended the session (%v) where the SDK's transport failed the call only", c.Err())
	default:
	}
}

// TestHTTPCallNoLeaks: after Close, nothing of httpCalls or observedConn is
// left running (pump, fail's goroutines, drains).
func TestHTTPCallNoLeaks(t *testing.T) {
	s := &scripted{next: mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return realServer() }, nil),
		script: map[string]func(http.ResponseWriter, *http.Request, json.RawMessage){
			"crash": func(w http.ResponseWriter, _ *http.Request, _ json.RawMessage) {
				http.Error(w, "boom", http.StatusInternalServerError)
			},
			"tail": func(w http.ResponseWriter, r *http.Request, id json.RawMessage) {
				sse(w, "data: "+answerFor(id, "x")+"\n\n")
				time.Sleep(50 * time.Millisecond)
				fmt.Fprint(w, "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"late\"}}\n\n")
			},
		}}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	for range 3 {
		c := dialHTTP(t, ts.URL, func(*mcp.ProgressNotificationClientRequest) {})
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				for _, n := range []string{"progress", "roots", "tail", "echo"} {
					c.Call(ctx, "tools/call", json.RawMessage(`{"name":"`+n+`","arguments":{},"_meta":{"progressToken":"p"}}`))
				}
			}()
		}
		wg.Wait()
		c.Call(context.Background(), "tools/call", json.RawMessage(`{"name":"crash","arguments":{}}`))
		c.Call(context.Background(), "tools/call", json.RawMessage(`{"name":"crash","arguments":{}}`))
		waitDone(t, c, "crash")
		c.Close()
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		st := string(buf[:runtime.Stack(buf, true)])
		var left []string
		for _, g := range strings.Split(st, "\n\n") {
			if strings.Contains(g, "backend.(*httpCalls)") || strings.Contains(g, "backend.(*observedConn)") {
				left = append(left, g)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHTTPCallCancelledCallIsSilent: once a call's context ends, nothing
// more of its stream reaches the session, also on a resumed stream.
func TestHTTPCallCancelledCallIsSilent(t *testing.T) {
	for _, resumed := range []bool{false, true} {
		t.Run(fmt.Sprint("resumed=", resumed), func(t *testing.T) {
			cancelled := make(chan struct{})
			prog := func(n int) string {
				return fmt.Sprintf(`data: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"p","progress":%d}}`+"\n\n", n)
			}
			rest := func(w http.ResponseWriter, id json.RawMessage) {
				<-cancelled
				time.Sleep(20 * time.Millisecond)
				fmt.Fprint(w, prog(2))
				fmt.Fprint(w, "data: "+answerFor(id, "late")+"\n\n")
				w.(http.Flusher).Flush()
			}
			s := &scripted{next: mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return realServer() }, nil),
				script: map[string]func(http.ResponseWriter, *http.Request, json.RawMessage){
					"slow": func(w http.ResponseWriter, _ *http.Request, id json.RawMessage) {
						if resumed {
							sse(w, "id: a1\nretry: 1\n"+prog(1))
							return
						}
						sse(w, prog(1))
						rest(w, id)
					},
				}}
			s.resume = func(w http.ResponseWriter, r *http.Request, id json.RawMessage) {
				sse(w, "id: a2\n"+prog(5)) // an event before the cancel
				rest(w, id)
			}
			ts := httptest.NewServer(s)
			t.Cleanup(ts.Close)
			progress := &progressLog{}
			c := dialHTTP(t, ts.URL, progress.record)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := c.Call(ctx, "tools/call", json.RawMessage(`{"name":"slow","arguments":{},"_meta":{"progressToken":"p"}}`))
				done <- err
			}()
			want := 1.0
			if resumed {
				want = 5
			}
			progress.waitFor(t, fmt.Sprint("progress ", want), func(seen []float64) bool { return len(seen) > 0 && seen[len(seen)-1] == want })
			cancel()
			close(cancelled)
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("call: %v", err)
			}
			time.Sleep(300 * time.Millisecond)
			if seen := progress.list(); slices.Contains(seen, 2) {
				t.Fatalf("a cancelled call's later progress reached the session: %v", seen)
			}
		})
	}
}

// TestHTTPCallConcurrentCancels: many concurrent calls, some cancelled at
// random points, none hangs and the session goes on.
func TestHTTPCallConcurrentCancels(t *testing.T) {
	s := &scripted{next: mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return realServer() }, nil),
		script: map[string]func(http.ResponseWriter, *http.Request, json.RawMessage){
			"jitter": func(w http.ResponseWriter, _ *http.Request, id json.RawMessage) {
				w.Header().Set("Content-Type", "text/event-stream")
				w.WriteHeader(200)
				for i := range 3 {
					fmt.Fprintf(w, `data: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"p","progress":%d}}`+"\n\n", i)
					w.(http.Flusher).Flush()
					time.Sleep(time.Millisecond)
				}
				fmt.Fprint(w, "data: "+answerFor(id, "ok")+"\n\n")
			},
		}}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	c := dialHTTP(t, ts.URL, func(*mcp.ProgressNotificationClientRequest) {})
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 10 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration((i*7+j*13)%6)*time.Millisecond)
				if (i+j)%3 == 0 {
					ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
				}
				name := []string{"jitter", "progress", "echo", "roots"}[(i+j)%4]
				raw, err := c.Call(ctx, "tools/call", json.RawMessage(`{"name":"`+name+`","arguments":{},"_meta":{"progressToken":"p"}}`))
				if err == nil && len(raw) == 0 {
					t.Errorf("empty answer")
				}
				if err != nil && ctx.Err() == nil {
					t.Errorf("%s: %v", name, err)
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if raw, err := c.Call(ctx, "tools/call", json.RawMessage(`{"name":"echo","arguments":{}}`)); err != nil || textOf(t, raw) != "echo" {
		t.Fatalf("after: %s %v", raw, err)
	}
}
