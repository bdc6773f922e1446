package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	neturl "net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/internal/testbin"
)

// TestE2EMultiRoundTrip: a 2026-07-28 client calls a tool whose backend,
// on an older HTTP session, asks for sampling in the middle of the call.
// The client gets an InputRequiredResult, retries with the answer and the
// requestState, and receives the result of the same backend call; a
// tampered or foreign requestState is refused with -32602; the logical
// call is audited once, with its rounds.
func TestE2EMultiRoundTrip(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "audit.jsonl")
	backendURL := startDemoHTTP(t, "remote")
	url, _ := startArgus(t, fmt.Sprintf(`
audit {
  sink "jsonl" "primary" { file = %q }
}
backend "remote" {
  type = "streamable-http"
  url  = %q
}
`, file, backendURL))

	call := `"name":"remote_ask","arguments":{"question":"capital of France?"}`
	status, msg := statelessPost(t, url, "tools/call", "remote_ask", call, nil)
	res, _ := msg["result"].(map[string]any)
	inputs, _ := res["inputRequests"].(map[string]any)
	state, _ := res["requestState"].(string)
	if status != 200 || res["resultType"] != "input_required" || len(inputs) != 1 || state == "" {
		t.Fatalf("round 1: HTTP %d %v, want an InputRequiredResult with one input request and a state", status, msg)
	}
	var key string
	for k, v := range inputs {
		key = k
		if m, _ := v.(map[string]any); m["method"] != "sampling/createMessage" {
			t.Fatalf("input request %v, want sampling/createMessage", v)
		}
	}
	answer := `"inputResponses":{"` + key + `":{"role":"assistant","content":{"type":"text","text":"Paris"},"model":"m"}}`

	// Tampered and foreign states are refused; the held call survives them.
	tampered := state[:len(state)-2] + "AA"
	if tampered == state {
		tampered = state[:len(state)-2] + "BB"
	}
	for name, params := range map[string]string{
		"tampered":     call + "," + answer + `,"requestState":"` + tampered + `"`,
		"another tool": `"name":"remote_echo","arguments":{"message":"x"},` + answer + `,"requestState":"` + state + `"`,
	} {
		tool := "remote_ask"
		if name == "another tool" {
			tool = "remote_echo"
		}
		status, msg := statelessPost(t, url, "tools/call", tool, params, nil)
		e, _ := msg["error"].(map[string]any)
		if e["code"] != -32602.0 {
			t.Errorf("%s state: HTTP %d %v, want -32602", name, status, msg)
		}
	}

	status, msg = statelessPost(t, url, "tools/call", "remote_ask", call+","+answer+`,"requestState":"`+state+`"`, nil)
	res, _ = msg["result"].(map[string]any)
	if b, _ := json.Marshal(res); status != 200 || res["resultType"] != "complete" || !strings.Contains(string(b), "sampled: Paris") {
		t.Fatalf("round 2: HTTP %d %v, want the backend call's result with the answer", status, msg)
	}
	// The state is spent once the call finished.
	status, msg = statelessPost(t, url, "tools/call", "remote_ask", call+","+answer+`,"requestState":"`+state+`"`, nil)
	if e, _ := msg["error"].(map[string]any); e["code"] != -32602.0 {
		t.Errorf("replayed state: HTTP %d %v, want -32602", status, msg)
	}

	// One mcp_operation event for the logical call, with its rounds; the
	// refused retries are events of their own.
	var asks []auditRecord
	waitFor(t, 10*time.Second, "the audit events", func() bool {
		asks = asks[:0]
		for _, r := range readAudit(t, auditFiles(t, file)...) {
			if r.EventType == "mcp_operation" && r.Target.CapabilityName == "remote_ask" {
				asks = append(asks, r)
			}
		}
		return len(asks) >= 3
	})
	var ok []auditRecord
	for _, r := range asks {
		if r.Outcome.Status == "success" {
			ok = append(ok, r)
		}
	}
	if len(ok) != 1 || ok[0].Metadata["rounds"] != 1.0 {
		t.Fatalf("successful remote_ask events: %+v, want exactly one with metadata.rounds = 1", ok)
	}
}

// TestE2EForwardedInputKeys: a backend spoken to at 2026-07-28 (the demo
// server over stdio and over streamable HTTP, protocol_version set) answers
// with its own InputRequiredResult; a 2026-07-28 client receives the
// backend's input keys ("user_name", "motto") unchanged, and its retry,
// keyed the same way, completes the call. In the reverse direction, a
// 2025-11-25 client calling the same tool is sent plain elicitation and
// sampling requests, and Argus retries the backend with the answers.
func TestE2EForwardedInputKeys(t *testing.T) {
	for _, transport := range []string{"stdio", "streamable-http"} {
		t.Run(transport, func(t *testing.T) {
			backend := fmt.Sprintf("backend \"kw\" {\n  type = \"stdio\"\n  command = %s\n  args = [\"-name\", \"kw\"]\n  protocol_version = \"2026-07-28\"\n}\n",
				hclString(binPath(t, testbin.DemoServer)))
			if transport == "streamable-http" {
				backend = fmt.Sprintf("backend \"kw\" {\n  type = \"streamable-http\"\n  url = %q\n  protocol_version = \"2026-07-28\"\n}\n", startDemoHTTP(t, "kw"))
			}
			url, proc := startArgus(t, backend)
			if _, err := proc.WaitStderr(regexp.MustCompile(`backend connected.*protocol.{0,3}2026-07-28`), startTimeout); err != nil {
				t.Fatalf("the backend session is not of revision 2026-07-28: %v", err)
			}

			survey := `"name":"kw_survey","arguments":{"motto":true}`
			status, msg := statelessPost(t, url, "tools/call", "kw_survey", survey, nil)
			res, _ := msg["result"].(map[string]any)
			inputs, _ := res["inputRequests"].(map[string]any)
			state, _ := res["requestState"].(string)
			if status != 200 || res["resultType"] != "input_required" || state == "" {
				t.Fatalf("round 1: HTTP %d %v, want an InputRequiredResult", status, msg)
			}
			keys := slices.Sorted(maps.Keys(inputs))
			if !slices.Equal(keys, []string{"motto", "user_name"}) {
				t.Fatalf("input keys %v, want the backend's own [motto user_name]", keys)
			}
			if m, _ := inputs["user_name"].(map[string]any); m["method"] != "elicitation/create" {
				t.Errorf("user_name = %v, want an elicitation/create request", inputs["user_name"])
			}
			if m, _ := inputs["motto"].(map[string]any); m["method"] != "sampling/createMessage" {
				t.Errorf("motto = %v, want a sampling/createMessage request", inputs["motto"])
			}
			answers := `"inputResponses":{"user_name":{"action":"accept","content":{"name":"Ada"}},` +
				`"motto":{"role":"assistant","content":{"type":"text","text":"carpe diem"},"model":"m"}}`
			status, msg = statelessPost(t, url, "tools/call", "kw_survey", survey+","+answers+`,"requestState":"`+state+`"`, nil)
			res, _ = msg["result"].(map[string]any)
			if b, _ := json.Marshal(res); status != 200 || res["resultType"] != "complete" || !strings.Contains(string(b), "hello, Ada; motto: carpe diem") {
				t.Fatalf("round 2: HTTP %d %v, want the greeting built from both answers", status, msg)
			}

			// Reverse: an older client is asked with plain requests.
			var asked sync.Map
			logged := make(chan any, 10)
			s := relayClient(t, url, &mcp.ClientOptions{
				LoggingMessageHandler: func(_ context.Context, req *mcp.LoggingMessageRequest) { logged <- req.Params.Data },
				ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
					asked.Store("elicitation", req.Params.Message)
					return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"name": "Grace"}}, nil
				},
				CreateMessageHandler: func(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
					asked.Store("sampling", true)
					return &mcp.CreateMessageResult{Role: "assistant", Model: "m", Content: &mcp.TextContent{Text: "per aspera"}}, nil
				},
			})
			if got := call(t, s, "kw_survey", map[string]any{"motto": true}); got != "hello, Grace; motto: per aspera" {
				t.Fatalf("older client: %q, want the greeting built from its answers", got)
			}
			if q, _ := asked.Load("elicitation"); q != "What is your name?" {
				t.Errorf("older client's elicitation: %v, want the backend's question", q)
			}
			if _, ok := asked.Load("sampling"); !ok {
				t.Error("older client was not asked for sampling")
			}

			// The level an older client set reaches the backend with each
			// request, as a 2026-07-28 backend sends no log messages without.
			if err := s.SetLoggingLevel(context.Background(), &mcp.SetLoggingLevelParams{Level: "info"}); err != nil {
				t.Fatal(err)
			}
			call(t, s, "kw_log", map[string]any{"message": "from the backend"})
			select {
			case d := <-logged:
				if d != "from the backend" {
					t.Errorf("log message %v, want the backend's", d)
				}
			case <-time.After(10 * time.Second):
				t.Error("the older client got no log message from the 2026-07-28 backend")
			}
		})
	}
}

// TestE2EProgressInLaterRounds: progress a backend (on an older session)
// reports after the client's answer reaches the client's retry, under the
// retry's own progress token, before the result; none goes out under the
// first request's token once it has ended.
func TestE2EProgressInLaterRounds(t *testing.T) {
	url, _ := startArgus(t, fmt.Sprintf("backend \"remote\" {\n  type = \"streamable-http\"\n  url = %q\n}\n", startDemoHTTP(t, "remote")))
	caps := `{"sampling":{}}`
	call := `"name":"remote_ask","arguments":{"question":"q","progress":true}`
	status, body := statelessPostRaw(t, url, caps, `"progressToken":"first"`, "tools/call", "remote_ask", call, nil)
	res, _ := rpcMessage(t, body)["result"].(map[string]any)
	inputs, _ := res["inputRequests"].(map[string]any)
	state, _ := res["requestState"].(string)
	if status != 200 || len(inputs) != 1 || state == "" {
		t.Fatalf("round 1: HTTP %d %s, want an InputRequiredResult", status, body)
	}
	var key string
	for k := range inputs {
		key = k
	}
	answer := `"inputResponses":{"` + key + `":{"role":"assistant","content":{"type":"text","text":"a"},"model":"m"}}`
	status, body = statelessPostRaw(t, url, caps, `"progressToken":"retry"`, "tools/call", "remote_ask",
		call+","+answer+`,"requestState":"`+state+`"`, nil)
	if b, _ := json.Marshal(rpcMessage(t, body)["result"]); status != 200 || !strings.Contains(string(b), "sampled: a") {
		t.Fatalf("round 2: HTTP %d %s, want the result", status, body)
	}
	progress := progressEvents(t, body)
	if len(progress) != 1 || progress[0]["progressToken"] != "retry" || progress[0]["progress"] != 2.0 {
		t.Fatalf("round 2 progress: %v, want one notification (progress 2) under the retry's token\n%s", progress, body)
	}
}

// progressEvents returns the params of the notifications/progress messages
// in an SSE body, in order.
func progressEvents(t *testing.T, body string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(body, "\n") {
		d, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var m struct {
			Method string         `json:"method"`
			Params map[string]any `json:"params"`
		}
		if json.Unmarshal([]byte(d), &m) == nil && m.Method == "notifications/progress" {
			out = append(out, m.Params)
		}
	}
	return out
}

// TestE2EUnclaimedCallAudited: a call whose client never retries after an
// InputRequiredResult still leaves exactly one mcp_operation event, an
// error with the call's rounds, when its round ends unanswered (here: the
// gateway shuts down while it waits; an expired round takes the same
// path) and no mcp_request record of its own.
func TestE2EUnclaimedCallAudited(t *testing.T) {
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	url, proc := startArgus(t, fmt.Sprintf(`
audit {
  record_requests = true
  sink "jsonl" "primary" { file = %q }
}
backend "remote" {
  type = "streamable-http"
  url  = %q
}
`, file, startDemoHTTP(t, "remote")))

	status, msg := statelessPost(t, url, "tools/call", "remote_ask", `"name":"remote_ask","arguments":{"question":"q"}`, nil)
	if res, _ := msg["result"].(map[string]any); status != 200 || res["resultType"] != "input_required" {
		t.Fatalf("HTTP %d %v, want an InputRequiredResult", status, msg)
	}
	if err := proc.Stop(); err != nil {
		t.Fatalf("argus exit: %v\n%s", err, proc.Stderr.String())
	}
	var ops, reqs []auditRecord
	for _, r := range readAudit(t, auditFiles(t, file)...) {
		if r.Target.CapabilityName != "remote_ask" {
			continue
		}
		switch r.EventType {
		case "mcp_operation":
			ops = append(ops, r)
		case "mcp_request":
			reqs = append(reqs, r)
		}
	}
	if len(ops) != 1 {
		t.Fatalf("%d mcp_operation events for the call, want 1: %+v", len(ops), ops)
	}
	op := ops[0]
	if op.Outcome.Status != "error" || op.Metadata["rounds"] != 1.0 || op.Metadata["jsonrpc_error_code"] != -32800.0 {
		t.Errorf("event %+v, want an error with metadata.rounds 1 and code -32800", op)
	}
	if len(reqs) != 1 || reqs[0].Metadata["request_id"] != op.Metadata["logical_request_id"] {
		t.Errorf("mcp_request records %+v, want exactly the first request's, whose id is the event's logical_request_id %v", reqs, op.Metadata["logical_request_id"])
	}
}

// TestE2EMultiRoundTripPerClient: the multi-round-trip call of
// TestE2EMultiRoundTrip against a per-client backend. A 2026-07-28
// client's session lives for one request, but the backend session its
// call opened must outlive it until the call ends: the retry with the
// answer gets the same backend call's result (it used to fail, at once
// with "server is closing" or after a minute with -32011, as the
// backend session was closed with the first request's); afterwards the
// per-client backend session is let go.
func TestE2EMultiRoundTripPerClient(t *testing.T) {
	url, proc := startArgus(t, `
backend "solo" {
  type         = "stdio"
  command      = `+hclString(binPath(t, "argus-demo-server"))+`
  args         = ["-name", "solo"]
  session_mode = "per-client"
}
`)
	call := `"name":"solo_ask","arguments":{"question":"capital of France?"}`
	status, msg := statelessPost(t, url, "tools/call", "solo_ask", call, nil)
	res, _ := msg["result"].(map[string]any)
	inputs, _ := res["inputRequests"].(map[string]any)
	state, _ := res["requestState"].(string)
	if status != 200 || res["resultType"] != "input_required" || len(inputs) != 1 || state == "" {
		t.Fatalf("round 1: HTTP %d %v, want an InputRequiredResult", status, msg)
	}
	var key string
	for k := range inputs {
		key = k
	}
	answer := `"inputResponses":{"` + key + `":{"role":"assistant","content":{"type":"text","text":"Paris"},"model":"m"}}`
	start := time.Now()
	status, msg = statelessPost(t, url, "tools/call", "solo_ask", call+","+answer+`,"requestState":"`+state+`"`, nil)
	res, _ = msg["result"].(map[string]any)
	if b, _ := json.Marshal(res); status != 200 || res["resultType"] != "complete" || !strings.Contains(string(b), "sampled: Paris") {
		t.Fatalf("round 2 (after %v): HTTP %d %v, want the backend call's result with the answer", time.Since(start).Round(time.Millisecond), status, msg)
	}
	// A plain call afterwards works too (a backend session of its own).
	if status, msg := statelessPost(t, url, "tools/call", "solo_echo", `"name":"solo_echo","arguments":{"message":"again"}`, nil); status != 200 || msg["result"] == nil {
		t.Fatalf("a later call: HTTP %d %v", status, msg)
	}
	// Only the shared backend session behind the catalogue is left: each
	// request's own closed once its call ended.
	waitChildren(t, proc.Cmd.Process.Pid, 1, 10*time.Second)
	// The operator is told, once, what such clients cost on this backend.
	if n := strings.Count(proc.Stderr.String(), "gets a backend session per call on this per-client backend"); n != 1 {
		t.Errorf("the per-call warning was logged %d times, want once:\n%s", n, proc.Stderr.String())
	}
}

// TestE2EStatelessCallsToAPerClientHTTPBackend: a stateless client's
// every call opens a per-client session to a streamable-HTTP backend;
// the sessions share the backend's connections, so a hundred calls leave
// Argus with about the file descriptors it had (each session used to
// keep a connection pool of its own open for 90 s after it ended: a
// probe at 350 calls/s ran Argus out of file descriptors in 40 s), and
// closes none (each session's standalone stream used to). And
// more clients calling at once than max_clients wait their turn for a
// backend session instead of being refused (they were refused though no
// session was in use any more: a stateless client's outlives its
// request by a moment).
func TestE2EStatelessCallsToAPerClientHTTPBackend(t *testing.T) {
	backendURL := startDemoHTTP(t, "web")
	url, proc := startArgus(t, `
backend "web" {
  type         = "streamable-http"
  url          = `+hclString(backendURL)+`
  session_mode = "per-client"
  max_clients  = 2
}
`)
	fds := func() int {
		entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", proc.Cmd.Process.Pid))
		if err != nil {
			t.Skipf("no /proc: %v", err)
		}
		return len(entries)
	}
	call := func(i int) {
		msg := fmt.Sprintf("call %d", i)
		if status, res := statelessPost(t, url, "tools/call", "web_echo", `"name":"web_echo","arguments":{"message":"`+msg+`"}`, nil); status != 200 || !strings.Contains(fmt.Sprint(res["result"]), msg) {
			t.Fatalf("%s: HTTP %d %v", msg, status, res)
		}
	}
	for i := range 5 {
		call(i)
	}
	before := fds()
	const calls = 100
	start := time.Now()
	for i := range calls {
		call(i)
	}
	t.Logf("%d calls in %v", calls, time.Since(start))
	// Nor does a call leave a closed connection behind (TIME_WAIT): a
	// one-request session opens no standalone stream (35 for these
	// calls before).
	if n := timeWaits(t, backendURL); n > 5 {
		t.Errorf("%d stateless calls left %d connections to the backend in TIME_WAIT, want at most 5", calls, n)
	}
	// What a session still holds while it closes (its stream to the
	// backend, the last call's connection) goes within a moment.
	deadline := time.Now().Add(5 * time.Second)
	for fds() > before+5 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if after := fds(); after > before+5 {
		t.Errorf("%d stateless calls to a per-client HTTP backend: Argus's open files %d -> %d, want at most 5 more", calls, before, after)
	}

	// Four clients, two backend sessions at most.
	if n := statelessEchoes(t, url, "web_echo", 4, 15); n > 0 {
		t.Errorf("%d of 60 calls of 4 clients refused by max_clients = 2, want none (each waits for a session)", n)
	}
}

// statelessEchoes has workers stateless clients call the echo tool (its
// catalogue name) calls times each at once, checks each answer, and
// returns how many calls max_clients refused (-32013).
func statelessEchoes(t *testing.T, url, tool string, workers, calls int) int64 {
	t.Helper()
	var wg sync.WaitGroup
	var refused atomic.Int64
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				msg := fmt.Sprintf("worker %d call %d", w, i)
				status, res := statelessPost(t, url, "tools/call", tool, `"name":"`+tool+`","arguments":{"message":"`+msg+`"}`, nil)
				if e, _ := res["error"].(map[string]any); e != nil && e["code"] == -32013.0 {
					refused.Add(1)
				} else if status != 200 || !strings.Contains(fmt.Sprint(res["result"]), msg) {
					t.Errorf("%s: HTTP %d %v", msg, status, res)
				}
			}
		})
	}
	wg.Wait()
	return refused.Load()
}

// timeWaits counts this machine's TCP sockets in TIME_WAIT whose remote
// end is the host and port of url (/proc/net/tcp): connections to it
// that were closed from this side.
func timeWaits(t *testing.T, url string) int {
	t.Helper()
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Skipf("no /proc/net/tcp: %v", err)
	}
	want := fmt.Sprintf(":%04X", port)
	n := 0
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 3 && strings.HasSuffix(f[2], want) && f[3] == "06" {
			n++
		}
	}
	return n
}
