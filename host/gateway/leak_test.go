package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/config/configload"
	"github.com/argusmcp/argus/host/gateway"
	"github.com/argusmcp/argus/host/transport"
	"github.com/argusmcp/argus/internal/leakcheck"
)

// TestGatewayLeavesNoGoroutines runs the gateway in this process, with a
// real stdio backend and a client session doing calls, relays and a
// per-client backend, and checks that Close leaves nothing running.
func TestGatewayLeavesNoGoroutines(t *testing.T) {
	src := demoStdio(t, "alpha") + `
backend "solo" {
  type         = "stdio"
  command      = ` + hclString(binPath(t, "argus-demo-server")) + `
  session_mode = "per-client"
}
health { interval = "20ms" }
`
	gw := startLeakChecked(t, src)
	st, ct := mcp.NewInMemoryTransports()
	ss, err := gw.Server().Connect(context.Background(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "leak", Version: "test"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(context.Context, *mcp.ProgressNotificationClientRequest) {},
	})
	cs, err := client.Connect(context.Background(), ct, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"alpha_echo", "solo_echo"} {
		if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"message": "x"}}); err != nil {
			t.Fatal(err)
		}
	}
	p := &mcp.CallToolParams{Name: "alpha_slow", Arguments: map[string]any{"steps": 2, "interval_ms": 5}}
	p.SetProgressToken("t")
	if _, err := cs.CallTool(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // a few health checks
	cs.Close()
	ss.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := gw.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestLeanAbandonedCallsEnd: a client that goes away in the middle of lean
// calls (one waiting on the backend, one whose roots/list request on the
// call's stream it never answers) leaves nothing behind: each call ends
// at the backend's call_timeout, its id is free again, and once the
// session and the gateway close no goroutine is left running.
func TestLeanAbandonedCallsEnd(t *testing.T) {
	src := strings.Replace(demoStdio(t, "alpha"), `type = "stdio"`, `type = "stdio"
  call_timeout = "1s"`, 1) + "audit {\n  enabled = false\n}\n"
	_, srv, hc := serveLeakChecked(t, src)
	c := openLeanSession(t, srv.URL, `{"roots":{}}`)
	c.client = hc
	// inUse reports whether a call of the JSON-RPC id is in flight: a
	// duplicate is refused. (Probe only once the call is known to be
	// running, or the probe may take the id first.)
	inUse := func(id string) bool {
		resp := c.post(`{"jsonrpc":"2.0","id":`+id+`,"method":"tools/call","params":{"name":"alpha_echo","arguments":{"message":"again"}}}`, nil)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusBadRequest && strings.Contains(string(b), "duplicate in-flight request ID")
	}
	for _, tc := range []struct{ id, tool, args string }{
		{`"gone-1"`, "alpha_slow", `{"steps":1000,"interval_ms":100},"_meta":{"progressToken":1}`},
		{`"gone-2"`, "alpha_roots", `{}`},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL, strings.NewReader(
			`{"jsonrpc":"2.0","id":`+tc.id+`,"method":"tools/call","params":{"name":"`+tc.tool+`","arguments":`+tc.args+`}}`))
		c.headers(req)
		first := make(chan map[string]any, 1)
		go func() {
			resp, err := hc.Do(req)
			if err != nil {
				first <- nil
				return
			}
			defer resp.Body.Close()
			var m map[string]any
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
					json.Unmarshal([]byte(d), &m)
					break
				}
			}
			first <- m
		}()
		// The call's first message (a progress notification, a roots/list
		// request never answered): it runs on the lean path; then the
		// client goes.
		if m := <-first; m == nil || m["method"] == nil {
			t.Fatalf("%s: first event %v", tc.tool, m)
		}
		if !inUse(tc.id) {
			t.Fatalf("%s: the running call's id is free", tc.tool)
		}
		cancel()
		for deadline := time.Now().Add(20 * time.Second); inUse(tc.id); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s abandoned: its id still in use after 20s (call_timeout 1s)", tc.tool)
			}
		}
	}
	req, _ := http.NewRequest("DELETE", srv.URL, nil)
	c.headers(req)
	if resp, err := hc.Do(req); err != nil || resp.StatusCode/100 != 2 {
		t.Fatalf("DELETE: %v %v", resp, err)
	}
}

// serveLeakChecked is startLeakChecked serving the gateway's /mcp
// handler (lean path included) on a test server, with an HTTP client of
// its own; the gateway, server and client are closed at cleanup.
func serveLeakChecked(t *testing.T, src string) (*gateway.Gateway, *httptest.Server, *http.Client) {
	t.Helper()
	gw := startLeakChecked(t, src)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := gw.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	srv := httptest.NewServer(transport.NewMCPHandler(transport.HTTPOptions{Server: gw.Server(), Lean: gw.ServeLean}))
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(func() {
		hc.CloseIdleConnections()
		http.DefaultClient.CloseIdleConnections()
		srv.Close()
	})
	return gw, srv, hc
}

// startLeakChecked starts an in-process gateway with the configuration
// src, under a goroutine leak check that begins before the gateway does;
// the caller closes it.
func startLeakChecked(t *testing.T, src string) *gateway.Gateway {
	t.Helper()
	cfg, diags := configload.NewParser().Load([]byte(src), "leak.hcl")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	leakcheck.Check(t)
	gw := gateway.New(cfg, hclog.NewNullLogger(), gateway.Options{Version: "test"})
	if err := gw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-gw.StartupDone()
	return gw
}

// TestStatelessLeanLeavesNothing: calls of the stateless revision on the
// lean path, one with progress and one whose client goes away while the
// backend works, each close the session made for them (none is left
// once they end; the abandoned call ends well before its 30 s sleep, as
// the client's going away cancels it), and once the gateway closes no
// goroutine is left running.
func TestStatelessLeanLeavesNothing(t *testing.T) {
	gw, srv, hc := serveLeakChecked(t, demoStdio(t, "alpha")+"audit {\n  enabled = false\n}\n")
	meta := statelessMeta("2026-07-28", `{}`, "")
	call := func(ctx context.Context, tool, args, extraMeta string) (*http.Response, error) {
		m := meta
		if extraMeta != "" {
			m = strings.TrimSuffix(m, "}") + "," + extraMeta + "}"
		}
		req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL, strings.NewReader(
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":`+m+`,"name":"`+tool+`","arguments":`+args+`}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("MCP-Protocol-Version", "2026-07-28")
		req.Header.Set("Mcp-Method", "tools/call")
		req.Header.Set("Mcp-Name", tool)
		return hc.Do(req)
	}
	sessions := func() int {
		n := 0
		for range gw.Server().Sessions() {
			n++
		}
		return n
	}
	for i := range 20 {
		resp, err := call(context.Background(), "alpha_echo", `{"message":"x"}`, "")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(b), `"resultType":"complete"`) {
			t.Fatalf("call %d: %s %s", i, resp.Header.Get("Content-Type"), b)
		}
	}
	resp, err := call(context.Background(), "alpha_slow", `{"steps":2,"interval_ms":5}`, `"progressToken":"p"`)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Count(string(b), "notifications/progress") != 2 {
		t.Fatalf("slow: %s", b)
	}
	if n := sessions(); n != 0 {
		t.Fatalf("%d sessions left after the calls ended", n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := call(ctx, "alpha_sleep", `{"ms":30000}`, ""); err == nil {
			resp.Body.Close()
		}
	}()
	for deadline := time.Now().Add(10 * time.Second); sessions() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the sleeping call never started")
		}
	}
	time.Sleep(100 * time.Millisecond)
	cancel()
	<-done
	for deadline := time.Now().Add(10 * time.Second); sessions() != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the abandoned call's session still open 10s after its client went away")
		}
	}
}

// TestPerClientReapsLeaveNoWaiters: a long-lived client session whose
// per-client backend link is reaped after idle_timeout and dialled again
// at its next call, over and over, keeps one goroutine waiting for its
// end, not one per link it ever had (it kept one per reap, until the
// session ended).
func TestPerClientReapsLeaveNoWaiters(t *testing.T) {
	src := `
backend "solo" {
  type         = "stdio"
  command      = ` + hclString(binPath(t, "argus-demo-server")) + `
  args         = ["-name", "solo"]
  session_mode = "per-client"
  idle_timeout = "100ms"
}
audit {
  enabled = false
}
`
	gw := startLeakChecked(t, src)
	st, ct := mcp.NewInMemoryTransports()
	ss, err := gw.Server().Connect(context.Background(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "reaps", Version: "test"}, nil).Connect(context.Background(), ct, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	// waiters counts the goroutines of the supervisor waiting for a client
	// session to end.
	waiters := func() int {
		buf := make([]byte, 1<<22)
		buf = buf[:runtime.Stack(buf, true)]
		n := 0
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "ServerSession).Wait") && strings.Contains(g, "host/supervisor.") {
				n++
			}
		}
		return n
	}
	const rounds = 5
	for i := range rounds {
		if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "solo_echo", Arguments: map[string]any{"message": "x"}}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		time.Sleep(400 * time.Millisecond) // idle_timeout passes: the link is reaped
	}
	if n := waiters(); n > 1 {
		t.Errorf("after %d reaped per-client links, %d goroutines wait for the one client session, want 1", rounds, n)
	}
	cs.Close()
	ss.Wait()
	waitFor(t, 5*time.Second, "no waiter once the session ended", func() bool { return waiters() == 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := gw.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
