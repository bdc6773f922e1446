package gateway_test

// End-to-end tests of relaying: what a backend sends during or outside a
// call reaches the right client, through the real argus binary.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// relayClient connects with the given client options (handlers).
func relayClient(t *testing.T, url string, opts *mcp.ClientOptions, roots ...*mcp.Root) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "relay-e2e", Version: "test"}, opts)
	if len(roots) > 0 {
		c.AddRoots(roots...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	s, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url}, &mcp.ClientSessionOptions{ProtocolVersion: clientProtocolVersion})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func call(t *testing.T, s *mcp.ClientSession, tool string, args map[string]any) string {
	t.Helper()
	res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	return text(t, res)
}

func TestE2ERelay(t *testing.T) {
	url, _ := startArgus(t, demoStdio(t, "alpha")+demoStdio(t, "beta"))

	t.Run("progress with colliding client tokens", func(t *testing.T) {
		type got struct {
			mu     sync.Mutex
			events []*mcp.ProgressNotificationParams
		}
		var wg sync.WaitGroup
		for i, steps := range []int{3, 5} {
			wg.Go(func() {
				g := &got{}
				s := relayClient(t, url, &mcp.ClientOptions{
					ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
						g.mu.Lock()
						g.events = append(g.events, req.Params)
						g.mu.Unlock()
					},
				})
				params := &mcp.CallToolParams{Name: "alpha_slow", Arguments: map[string]any{"steps": steps, "interval_ms": 30}}
				params.SetProgressToken("same-token") // both clients use the same token
				res, err := s.CallTool(context.Background(), params)
				if err != nil {
					t.Errorf("client %d: %v", i, err)
					return
				}
				// The client SDK dispatches notifications apart from the
				// response: wait until progress reaches total.
				deadline := time.Now().Add(3 * time.Second)
				for {
					g.mu.Lock()
					n := len(g.events)
					g.mu.Unlock()
					if n >= steps || time.Now().After(deadline) {
						break
					}
					time.Sleep(5 * time.Millisecond)
				}
				time.Sleep(50 * time.Millisecond) // and no more than that arrives
				g.mu.Lock()
				defer g.mu.Unlock()
				if len(g.events) != steps {
					t.Errorf("client %d: %d progress notifications, want %d", i, len(g.events), steps)
					return
				}
				for j, e := range g.events {
					if e.ProgressToken != "same-token" || e.Progress != float64(j+1) || e.Total != float64(steps) {
						t.Errorf("client %d: event %d = %+v", i, j, e)
					}
				}
				if text(t, res) != fmt.Sprintf("done after %d steps", steps) {
					t.Errorf("client %d: %s", i, text(t, res))
				}
			})
		}
		wg.Wait()
	})

	t.Run("sampling", func(t *testing.T) {
		s := relayClient(t, url, &mcp.ClientOptions{
			CreateMessageHandler: func(_ context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
				q := req.Params.Messages[0].Content.(*mcp.TextContent).Text
				return &mcp.CreateMessageResult{Model: "test", Role: "assistant", Content: &mcp.TextContent{Text: "answer to " + q}}, nil
			},
		})
		if got := call(t, s, "beta_ask", map[string]any{"question": "life"}); got != "sampled: answer to life" {
			t.Errorf("ask = %q", got)
		}
	})

	t.Run("elicitation", func(t *testing.T) {
		s := relayClient(t, url, &mcp.ClientOptions{
			ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
				if req.Params.Message != "sure?" {
					return &mcp.ElicitResult{Action: "decline"}, nil
				}
				return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}, nil
			},
		})
		if got := call(t, s, "alpha_confirm", map[string]any{"message": "sure?"}); got != `action: accept content: {"confirm":true}` {
			t.Errorf("confirm = %q", got)
		}
	})

	t.Run("roots", func(t *testing.T) {
		s := relayClient(t, url, nil, &mcp.Root{URI: "file:///work/project", Name: "project"})
		if got := call(t, s, "alpha_roots", nil); got != "roots: file:///work/project" {
			t.Errorf("roots = %q", got)
		}
	})

	t.Run("logging honours each client's level", func(t *testing.T) {
		var mu sync.Mutex
		var debugMsgs, warnMsgs []any
		dbg := relayClient(t, url, &mcp.ClientOptions{LoggingMessageHandler: func(_ context.Context, r *mcp.LoggingMessageRequest) {
			mu.Lock()
			debugMsgs = append(debugMsgs, r.Params.Data)
			mu.Unlock()
		}})
		wrn := relayClient(t, url, &mcp.ClientOptions{LoggingMessageHandler: func(_ context.Context, r *mcp.LoggingMessageRequest) {
			mu.Lock()
			warnMsgs = append(warnMsgs, r.Params.Data)
			mu.Unlock()
		}})
		ctx := context.Background()
		if err := dbg.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
			t.Fatal(err)
		}
		if err := wrn.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "warning"}); err != nil {
			t.Fatal(err)
		}
		call(t, dbg, "alpha_log", map[string]any{"level": "info", "message": "for debug client"})
		call(t, wrn, "alpha_log", map[string]any{"level": "info", "message": "below warning"})
		call(t, wrn, "alpha_log", map[string]any{"level": "error", "message": "for warn client"})
		// The client SDK dispatches notifications apart from responses:
		// give the handlers a moment, then check nothing else arrived.
		deadline := time.Now().Add(3 * time.Second)
		for {
			mu.Lock()
			n := len(debugMsgs) + len(warnMsgs)
			mu.Unlock()
			if n >= 2 || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(debugMsgs, []any{"for debug client"}) || !slices.Equal(warnMsgs, []any{"for warn client"}) {
			t.Errorf("debug client got %v, warning client got %v", debugMsgs, warnMsgs)
		}
	})

	t.Run("resources/updated to subscribers only", func(t *testing.T) {
		updates := make(chan string, 4)
		others := make(chan string, 4)
		sub := relayClient(t, url, &mcp.ClientOptions{ResourceUpdatedHandler: func(_ context.Context, r *mcp.ResourceUpdatedNotificationRequest) {
			updates <- r.Params.URI
		}})
		other := relayClient(t, url, &mcp.ClientOptions{ResourceUpdatedHandler: func(_ context.Context, r *mcp.ResourceUpdatedNotificationRequest) {
			others <- r.Params.URI
		}})
		if err := sub.Subscribe(context.Background(), &mcp.SubscribeParams{URI: "demo://beta/readme"}); err != nil {
			t.Fatal(err)
		}
		call(t, other, "beta_touch", nil)
		select {
		case uri := <-updates:
			if uri != "demo://beta/readme" {
				t.Errorf("updated %q", uri)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("subscriber got no resources/updated")
		}
		select {
		case uri := <-others:
			t.Errorf("non-subscriber got an update for %s", uri)
		case <-time.After(200 * time.Millisecond):
		}
		// Another client's unsubscribe, which never subscribed, changes
		// nothing for the subscriber.
		if err := other.Unsubscribe(context.Background(), &mcp.UnsubscribeParams{URI: "demo://beta/readme"}); err != nil {
			t.Errorf("a non-subscriber's unsubscribe: %v", err)
		}
		call(t, other, "beta_touch", nil)
		select {
		case <-updates:
		case <-time.After(5 * time.Second):
			t.Fatal("another client's unsubscribe ended the subscriber's updates")
		}
		if err := sub.Unsubscribe(context.Background(), &mcp.UnsubscribeParams{URI: "demo://beta/readme"}); err != nil {
			t.Errorf("unsubscribe: %v", err)
		}
		call(t, other, "beta_touch", nil)
		select {
		case uri := <-updates:
			t.Errorf("an update for %s after the subscriber's unsubscribe", uri)
		case <-time.After(300 * time.Millisecond):
		}
	})

	t.Run("backend list_changed reaches every client", func(t *testing.T) {
		changed := make(chan struct{}, 4)
		watcher := relayClient(t, url, &mcp.ClientOptions{ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			changed <- struct{}{}
		}})
		s := relayClient(t, url, nil)
		call(t, s, "beta_add_tool", map[string]any{"name": "fresh"})
		select {
		case <-changed:
		case <-time.After(5 * time.Second):
			t.Fatal("no tools/list_changed")
		}
		if names := toolNames(t, watcher); !slices.Contains(names, "beta_fresh") {
			t.Errorf("tools after change: %v", names)
		}
		if got := call(t, watcher, "beta_fresh", map[string]any{"message": "new"}); got != "new" {
			t.Errorf("beta_fresh = %q", got)
		}
	})

	t.Run("client cancellation", func(t *testing.T) {
		s := relayClient(t, url, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "alpha_sleep", Arguments: map[string]any{"ms": 30000}})
		if err == nil || time.Since(start) > 5*time.Second {
			t.Errorf("cancelled call: err %v after %v", err, time.Since(start))
		}
		if got := call(t, s, "alpha_echo", map[string]any{"message": "after"}); got != "after" {
			t.Errorf("after cancel: %q", got)
		}
	})

	t.Run("backend cancellation reaches the client", func(t *testing.T) {
		cancelled := make(chan struct{})
		s := relayClient(t, url, &mcp.ClientOptions{
			CreateMessageHandler: func(ctx context.Context, _ *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
				select {
				case <-ctx.Done(): // the backend gave up; Argus passed that on
					close(cancelled)
					return nil, ctx.Err()
				case <-time.After(10 * time.Second):
					return nil, fmt.Errorf("never cancelled")
				}
			},
		})
		res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "alpha_ask", Arguments: map[string]any{"question": "slow", "timeout_ms": 300}})
		if err != nil || !res.IsError {
			t.Errorf("ask with timeout: %v %+v", err, res)
		}
		select {
		case <-cancelled:
		case <-time.After(5 * time.Second):
			t.Error("the client's sampling request was not cancelled")
		}
	})

	t.Run("shared session refuses what it cannot attribute", func(t *testing.T) {
		busy := relayClient(t, url, nil)
		asker := relayClient(t, url, &mcp.ClientOptions{
			CreateMessageHandler: func(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
				t.Error("sampling reached a client while two calls shared the backend session")
				return &mcp.CreateMessageResult{Model: "x", Content: &mcp.TextContent{Text: "x"}}, nil
			},
		})
		done := make(chan struct{})
		go func() {
			defer close(done)
			call(t, busy, "alpha_sleep", map[string]any{"ms": 1500})
		}()
		time.Sleep(300 * time.Millisecond)
		res, err := asker.CallTool(context.Background(), &mcp.CallToolParams{Name: "alpha_ask", Arguments: map[string]any{"question": "q"}})
		// The demo tool reports the refused sampling request as a tool error.
		if err != nil || !res.IsError || !strings.Contains(text(t, res), "per-client") {
			t.Errorf("ask while another call shares the session: err %v result %+v", err, res)
		}
		<-done
	})
}

// TestE2EPerClientSessions: with session_mode = "per-client" concurrent
// clients' sampling requests each reach their own client.
func TestE2EPerClientSessions(t *testing.T) {
	url, _ := startArgus(t, strings.Replace(demoStdio(t, "alpha"), "type = \"stdio\"", "type = \"stdio\"\n  session_mode = \"per-client\"", 1))
	var wg sync.WaitGroup
	for _, who := range []string{"A", "B", "C"} {
		wg.Go(func() {
			s := relayClient(t, url, &mcp.ClientOptions{
				CreateMessageHandler: func(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
					time.Sleep(200 * time.Millisecond) // keep the calls overlapping
					return &mcp.CreateMessageResult{Model: "m", Role: "assistant", Content: &mcp.TextContent{Text: who}}, nil
				},
			})
			if got := call(t, s, "alpha_ask", map[string]any{"question": "who?"}); got != "sampled: "+who {
				t.Errorf("client %s got %q", who, got)
			}
			// Each client has its own backend process.
			call(t, s, "alpha_pid", nil)
		})
	}
	wg.Wait()
}

// TestE2ESessionIsolation: 16 client sessions each send 200 calls; every
// session numbers its JSON-RPC requests from 1, so ids collide across
// sessions all the time, through one shared backend session.
func TestE2ESessionIsolation(t *testing.T) {
	url, _ := startArgus(t, demoStdio(t, "alpha"))
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			s := connect(t, url)
			for j := range 200 {
				msg := fmt.Sprintf("session %d call %d", i, j)
				res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "alpha_echo", Arguments: map[string]any{"message": msg}})
				if err != nil {
					t.Errorf("%s: %v", msg, err)
					return
				}
				if got := res.Content[0].(*mcp.TextContent).Text; got != msg {
					t.Errorf("%s: got %q", msg, got)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestE2ECancelledCallsMessagesStayWithIt: a client cancels a call whose
// HTTP backend goes on logging (its tool ignores the cancellation); the
// messages the backend writes afterwards on that call's stream reach no
// other client. Argus keeps the call's connection to drain the stream's
// end, and nothing read while draining may be dispatched: the relay would
// hand a message of the link to whichever client is there.
func TestE2ECancelledCallsMessagesStayWithIt(t *testing.T) {
	server := mcp.NewServer(&mcp.Implementation{Name: "chatty", Version: "0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "talk"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		ctx = context.WithoutCancel(ctx)
		for i := range 50 {
			req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Data: fmt.Sprint("A's secret ", i)})
			time.Sleep(10 * time.Millisecond)
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
	})
	backend := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))
	t.Cleanup(backend.Close)
	url, _ := startArgus(t, fmt.Sprintf(`
backend "chatty" {
  type = "streamable-http"
  url  = %q
}
`, backend.URL))

	var mu sync.Mutex
	var toB []string
	a := relayClient(t, url, nil)
	b := relayClient(t, url, &mcp.ClientOptions{LoggingMessageHandler: func(_ context.Context, r *mcp.LoggingMessageRequest) {
		mu.Lock()
		toB = append(toB, fmt.Sprint(r.Params.Data))
		mu.Unlock()
	}})
	for _, s := range []*mcp.ClientSession{a, b} {
		if err := s.SetLoggingLevel(context.Background(), &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	if _, err := a.CallTool(ctx, &mcp.CallToolParams{Name: "chatty_talk", Arguments: map[string]any{}}); err == nil {
		t.Fatal("the call ended before its deadline")
	}
	time.Sleep(time.Second) // the tool goes on logging for about 350 ms more
	mu.Lock()
	defer mu.Unlock()
	if len(toB) > 0 {
		t.Errorf("client B received %d of client A's messages: %q", len(toB), toB)
	}
}
