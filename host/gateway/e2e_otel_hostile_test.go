package gateway_test

// Hostile client input against the telemetry pipeline, end to end: a
// request built to break span encoding or export must not cost the spans
// of the well-formed requests batched with it, must not crash or stall the
// host or the exporter plugin, and must not leak a secret to the collector.
// Where a test's comment tells what a request did, it tells what it did
// before the fixes these tests came with (span names, attributes, status
// and exception messages bounded; ResourceExhausted without RetryInfo not
// retried; made-up methods one metric label; a key in a backend URL's
// query redacted); the test holds that it no longer does.
// Run with ARGUS_E2E_OTEL=1 (make e2e-otel).

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/internal/otelcoltest"
)

// exportErrors are what the host and the exporter plugin log when spans
// or metrics do not reach the collector.
var exportErrors = []string{"not exported", "spans rejected", "OTLP export failed", "failed to upload", "failed to export", "panic"}

func checkNoExportErrors(t *testing.T, proc *Proc) {
	t.Helper()
	out := proc.Stderr.String()
	for _, e := range exportErrors {
		if i := strings.Index(out, e); i >= 0 {
			lo, hi := max(0, i-300), min(len(out), i+300)
			t.Errorf("argus log has %q: ...%s...", e, out[lo:hi])
		}
	}
}

// neighbours makes well-formed calls, each in a trace of its own (trace
// ids base, base+1, ...), and returns the trace ids.
func neighbours(t *testing.T, s *mcp.ClientSession, base, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		traceID, tp := traceparentFor(base + i)
		if _, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "demo_echo", Arguments: map[string]any{"message": "ok"}, Meta: mcp.Meta{"traceparent": tp}}); err != nil {
			t.Fatalf("neighbour call %d: %v", i, err)
		}
		ids = append(ids, traceID)
	}
	return ids
}

// waitTraces waits until the collector has a SERVER span in each trace,
// reporting the ones missing after timeout.
func waitTraces(t *testing.T, col *otelcoltest.Collector, ids []string, timeout time.Duration) {
	t.Helper()
	var missing []string
	deadline := time.Now().Add(timeout)
	for {
		spans, _ := col.Spans()
		have := map[string]bool{}
		for _, sp := range spans {
			if sp.Kind == "SERVER" {
				have[sp.TraceID] = true
			}
		}
		missing = missing[:0]
		for _, id := range ids {
			if !have[id] {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("%d of %d well-formed requests have no SERVER span at the collector (first missing trace %s)", len(missing), len(ids), missing[0])
}

// rawPost posts body to url with the session's headers and returns the
// status and body.
func rawPost(t testing.TB, url, sid string, header http.Header, body string) (int, string) {
	t.Helper()
	resp, b := postRaw(t, url, sid, header, body)
	return resp.StatusCode, b
}

// postRaw posts one JSON-RPC body to url as a 2025-06-18 client of session
// sid (none if ""), with header added (canonical keys; a
// Mcp-Protocol-Version there wins), and returns the response and its body.
func postRaw(t testing.TB, url, sid string, header http.Header, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-06-18")
	for k, v := range header {
		req.Header[k] = v
	}
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// hostile sends each body in a raw session between well-formed calls of
// an SDK session, and checks that every well-formed call's span arrives
// and nothing was logged as not exported.
func hostile(t *testing.T, cfg func(endpoint string) string, bodies []string) (*otelcoltest.Collector, *Proc) {
	t.Helper()
	col := otelcoltest.Start(t, otelcoltest.Options{})
	url, proc := startArgus(t, cfg(col.GRPCEndpoint()))
	s := connect(t, url)
	do := rawSession(t, url, nil)
	var ids []string
	for i, body := range bodies {
		ids = append(ids, neighbours(t, s, 1000*i, 3)...)
		status, resp := do(body)
		t.Logf("hostile %d (%d bytes): status %d, %.200q", i, len(body), status, resp)
		ids = append(ids, neighbours(t, s, 1000*i+500, 3)...)
	}
	waitTraces(t, col, ids, 15*time.Second)
	if _, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "demo_echo", Arguments: map[string]any{"message": "still alive"}}); err != nil {
		t.Errorf("gateway broken after the hostile requests: %v", err)
	}
	checkNoExportErrors(t, proc)
	return col, proc
}

func otelCfg(t *testing.T) func(string) string {
	return func(ep string) string { return otelConfig(t, ep) }
}

// TestE2EOtelHostileInvalidUTF8: ids, tool names, resource URIs and
// prompt names with raw invalid UTF-8 bytes and lone surrogate escapes.
// The JSON decoders replace both with U+FFFD; the spans arrive.
func TestE2EOtelHostileInvalidUTF8(t *testing.T) {
	needOtel(t)
	bad := []string{"\xff\xfe", `\ud800`, `\udfff\ud800x`, "\xed\xa0\x80", "\xc0\xaf", "a\x80b"}
	var bodies []string
	for i, b := range bad {
		bodies = append(bodies,
			fmt.Sprintf(`{"jsonrpc":"2.0","id":"id-%s-%d","method":"tools/call","params":{"name":"demo_echo","arguments":{"message":"x"}}}`, b, i),
			fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"demo_%s","arguments":{"message":"x"}}}`, 100+i, b),
			fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"resources/read","params":{"uri":"demo://%s"}}`, 200+i, b),
			fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"prompts/get","params":{"name":"demo_%s"}}`, 300+i, b),
			fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"demo_fail","arguments":{"message":"boom %s"}}}`, 400+i, b),
		)
	}
	col, _ := hostile(t, otelCfg(t), bodies)
	// The hostile requests' own spans arrive too, as valid UTF-8.
	waitFor(t, 10*time.Second, "a span of a request with an invalid id", func() bool {
		spans, _ := col.Spans()
		for _, sp := range spans {
			if id, _ := sp.Attributes["jsonrpc.request.id"].(string); strings.HasPrefix(id, "id-") && strings.Contains(id, "\uFFFD") {
				return true
			}
		}
		return false
	})
}

// TestE2EOtelHostileMeta: malformed, huge and invalid-UTF-8 trace context
// in _meta (traceparent, tracestate, baggage), and _meta of wrong types.
func TestE2EOtelHostileMeta(t *testing.T) {
	needOtel(t)
	call := func(id int, meta string) string {
		return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"demo_echo","arguments":{"message":"x"},"_meta":%s}}`, id, meta)
	}
	tp := `"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"`
	bodies := []string{
		call(1, `{"traceparent":"garbage"}`),
		call(2, `{"traceparent":"00-00000000000000000000000000000000-0000000000000000-01"}`),
		call(3, `{"traceparent":"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}`),
		call(4, "{\"traceparent\":\"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\xff\"}"),
		call(5, `{"traceparent":"\ud800"}`),
		call(6, `{"traceparent":7}`),
		call(7, `{"traceparent":null}`),
		call(8, `{"traceparent":["a"]}`),
		call(9, `{"traceparent":`+tp+`,"tracestate":"`+strings.Repeat("k=v,", 5000)+`"}`),
		call(10, "{\"traceparent\":"+tp+",\"tracestate\":\"a=\xff\xfe,b=\\ud800\"}"),
		call(11, `{"traceparent":`+tp+`,"tracestate":7}`),
		call(12, `{"traceparent":`+tp+`,"baggage":"`+strings.Repeat("k=v,", 100000)+`"}`),
		call(13, "{\"traceparent\":"+tp+",\"baggage\":\"k=\xff\xfe\\ud800;p=\\udfff\"}"),
		call(14, `{"traceparent":`+tp+`,"baggage":{"x":1}}`),
		call(15, `{"traceparent":"00-`+strings.Repeat("a", 1<<20)+`"}`),
		call(16, `7`),
		call(17, `null`),
		call(18, `"str"`),
		call(19, `[1,2]`),
		`{"jsonrpc":"2.0","id":20,"method":"tools/call","params":null}`,
		`{"jsonrpc":"2.0","id":21,"method":"tools/call","params":7}`,
		`{"jsonrpc":"2.0","id":22,"method":"tools/call","params":{"name":7}}`,
		`{"jsonrpc":"2.0","id":23,"method":"tools/call","params":{}}`,
		`{"jsonrpc":"2.0","id":24,"method":"resources/read","params":{"uri":null}}`,
		`{"jsonrpc":"2.0","id":25,"method":"prompts/get"}`,
		`{"jsonrpc":"2.0","id":{"a":1},"method":"tools/call","params":{"name":"demo_echo"}}`,
		`{"jsonrpc":"2.0","id":1e400,"method":"tools/call","params":{"name":"demo_echo"}}`,
		`{"jsonrpc":"2.0","id":-0,"method":"tools/call","params":{"name":"demo_echo"}}`,
		`{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"tools/call","params":{"name":"demo_echo"}}`,
	}
	hostile(t, otelCfg(t), bodies)
}

// TestE2EOtelHostileHugeToolName: one tools/call naming a tool of 1.5 MB
// (within the 4 MiB request limit). The name is in the SERVER span three
// times (span name, mcp.capability, gen_ai.tool.name) and again in the
// error message and its exception event: a span far over the collector's
// 4 MiB gRPC message limit. The collector refuses the whole batch, and the
// well-formed calls batched with it lose their spans.
func TestE2EOtelHostileHugeToolName(t *testing.T) {
	needOtel(t)
	name := strings.Repeat("n", 1500<<10)
	hostile(t, otelCfg(t), []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + name + `","arguments":{}}}`,
	})
}

// TestE2EOtelHostileHugeResourceURI: the same with a resources/read URI.
func TestE2EOtelHostileHugeResourceURI(t *testing.T) {
	needOtel(t)
	hostile(t, otelCfg(t), []string{
		`{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"demo://` + strings.Repeat("u", 1500<<10) + `"}}`,
	})
}

// TestE2EOtelHostileHugeIDs: two tools/call of an existing tool, back to
// back, each with a string JSON-RPC id of 2.5 MB (well within the 4 MiB
// request limit; one alone gives a span under the collector's 4 MiB
// limit). Batched together they are over it, and the batch is refused
// with the well-formed spans in it.
func TestE2EOtelHostileHugeIDs(t *testing.T) {
	needOtel(t)
	col := otelcoltest.Start(t, otelcoltest.Options{})
	url, proc := startArgus(t, otelConfig(t, col.GRPCEndpoint()))
	s := connect(t, url)
	do := rawSession(t, url, nil)
	ids := neighbours(t, s, 0, 3)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			do(fmt.Sprintf(`{"jsonrpc":"2.0","id":"%d%s","method":"tools/call","params":{"name":"demo_echo","arguments":{"message":"x"}}}`, i, strings.Repeat("i", 2500<<10)))
		})
	}
	// Well-formed calls while they are served, to share their batch.
	done := make(chan struct{})
	var mu sync.Mutex
	var during []string
	go func() {
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			id := neighbours(t, s, 200+i, 1)
			mu.Lock()
			during = append(during, id...)
			mu.Unlock()
		}
	}()
	wg.Wait()
	time.Sleep(50 * time.Millisecond)
	close(done)
	mu.Lock()
	ids = append(ids, during...)
	mu.Unlock()
	ids = append(ids, neighbours(t, s, 500, 3)...)
	waitTraces(t, col, ids, 15*time.Second)
	checkNoExportErrors(t, proc)
}

// TestE2EOtelHostileStall: with the exporter's default retry settings, one
// request whose span the collector refuses as too large (ResourceExhausted,
// which the plugin retries) holds span export up for the whole export
// timeout: spans of well-formed calls made a second later wait ~30s, and
// spans beyond the queue (2048) are dropped meanwhile. A client can repeat
// it every 30s.
func TestE2EOtelHostileStall(t *testing.T) {
	needOtel(t)
	col := otelcoltest.Start(t, otelcoltest.Options{})
	// The exporter's own timeout and max_elapsed (10s, 1m).
	url, _ := startArgus(t, otelConfigExporter(t, col.GRPCEndpoint(), ""))
	s := connect(t, url)
	do := rawSession(t, url, nil)
	waitTraces(t, col, neighbours(t, s, 0, 1), 10*time.Second)
	do(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + strings.Repeat("n", 1500<<10) + `","arguments":{}}}`)
	time.Sleep(time.Second) // the hostile span's batch is being exported
	ids := neighbours(t, s, 100, 3)
	sent := time.Now()
	waitTraces(t, col, ids, 45*time.Second)
	if d := time.Since(sent); d > 5*time.Second {
		t.Errorf("spans of well-formed calls made a second after the hostile request reached the collector %v later (schedule delay 200ms)", d.Round(time.Second))
	}
}

// authOtelConfig is otelConfig with a bearer token required.
func authOtelConfig(t *testing.T, endpoint string) string {
	return otelConfig(t, endpoint) + `
auth {
  token "alice" { value = "alice-token-0123456789" }
}
`
}

// metricTotal is the latest cumulative argus.requests count for tool.
func metricTotal(col *otelcoltest.Collector, tool string) float64 {
	var total float64
	ms, _ := col.Metrics()
	for _, m := range ms {
		if m.Name != "argus.requests" {
			continue
		}
		total = 0
		for _, dp := range m.DataPoints {
			if dp.Attributes["tool_name"] == tool {
				total += dp.Value
			}
		}
	}
	return total
}

// TestE2EOtelHostileUnauthMethodMetrics: an unauthenticated POST (refused
// with 401) is still run through the observers, and its method, any
// string the client likes, becomes a metric label as it is (only
// capability names are collapsed to _unrouted). One such request with a
// 1.5 MB method puts ~4.5 MB of labels into every later metric export:
// the collector refuses each one, and metrics stop for good (the series
// are cumulative and kept forever). The same request's SERVER span (name,
// mcp.method.name and mcp.method are all the method) takes its batch down.
func TestE2EOtelHostileUnauthMethodMetrics(t *testing.T) {
	needOtel(t)
	col := otelcoltest.Start(t, otelcoltest.Options{})
	url, proc := startArgus(t, authOtelConfig(t, col.GRPCEndpoint()))
	s := connectWithToken(t, url, "alice-token-0123456789")
	neighbours(t, s, 0, 2)
	waitFor(t, 15*time.Second, "metrics of the first calls", func() bool { return metricTotal(col, "demo_echo") >= 2 })
	status, body := rawPost(t, url, "", nil, `{"jsonrpc":"2.0","id":1,"method":"`+strings.Repeat("m", 1500<<10)+`","params":{}}`)
	t.Logf("unauthenticated: %d %.120s", status, body)
	ids := neighbours(t, s, 100, 5)
	deadline := time.Now().Add(15 * time.Second)
	for metricTotal(col, "demo_echo") < 7 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if got := metricTotal(col, "demo_echo"); got < 7 {
		t.Errorf("argus.requests{tool_name=demo_echo} at the collector: %v, want 7: metrics no longer exported", got)
	}
	waitTraces(t, col, ids, 10*time.Second)
	checkNoExportErrors(t, proc)
}

// TestE2EOtelHostileUnauthMethodCardinality: the methods of
// unauthenticated requests, whatever a client makes up, are one metric
// series (_other), not one each kept forever.
func TestE2EOtelHostileUnauthMethodCardinality(t *testing.T) {
	needOtel(t)
	col := otelcoltest.Start(t, otelcoltest.Options{})
	url, _ := startArgus(t, authOtelConfig(t, col.GRPCEndpoint()))
	const n = 300
	for i := range n {
		rawPost(t, url, "", nil, fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"junk/%d-%s","params":{}}`, i, strings.Repeat("m", 1000)))
	}
	count := func() (junk, other int) {
		ms, _ := col.Metrics()
		for _, m := range ms {
			if m.Name != "argus.requests" {
				continue
			}
			junk, other = 0, 0 // cumulative: the latest export wins
			for _, dp := range m.DataPoints {
				tool, _ := dp.Attributes["tool_name"].(string)
				switch {
				case strings.HasPrefix(tool, "junk/"):
					junk++
				case tool == "_other":
					other++
				}
			}
		}
		return junk, other
	}
	waitFor(t, 15*time.Second, "argus.requests exported", func() bool { _, other := count(); return other > 0 })
	if junk, other := count(); junk > 0 || other != 1 {
		t.Errorf("%d unauthenticated requests with made-up methods made %d argus.requests series of their own and %d _other; want one _other", n, junk, other)
	}
}

// TestE2EOtelHostileHugeBackendError: a backend that puts the client's
// input in its error (demo's fail tool; "invalid argument: <value>" is
// common) turns a 1.2 MB argument into a 1.2 MB error message, which
// each of the SERVER and CLIENT spans carries twice (status message and
// exception event): ~4.8 MB, over the collector's limit.
func TestE2EOtelHostileHugeBackendError(t *testing.T) {
	needOtel(t)
	hostile(t, otelCfg(t), []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"demo_fail","arguments":{"message":"` + strings.Repeat("e", 1200<<10) + `"}}}`,
	})
}

// badBackend is a stdio MCP server (Python) whose tool "bad" fails with
// JSON-RPC errors and tool errors carrying raw invalid UTF-8, and whose
// tool "mixed" returns invalid UTF-8 in a successful result.
const badBackend = `import sys, json
def send(b):
    sys.stdout.buffer.write(b + b"\n"); sys.stdout.buffer.flush()
for line in sys.stdin.buffer:
    try:
        m = json.loads(line)
    except Exception:
        continue
    if "id" not in m or "method" not in m:
        continue
    i = json.dumps(m["id"]).encode()
    meth = m["method"]
    if meth == "initialize":
        send(b'{"jsonrpc":"2.0","id":' + i + b',"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"bad","version":"1"}}}')
    elif meth == "tools/list":
        send(b'{"jsonrpc":"2.0","id":' + i + b',"result":{"tools":[{"name":"rpcerr","inputSchema":{"type":"object"}},{"name":"toolerr","inputSchema":{"type":"object"}},{"name":"surrogate","inputSchema":{"type":"object"}}]}}')
    elif meth == "tools/call":
        name = m["params"]["name"]
        if name == "rpcerr":
            send(b'{"jsonrpc":"2.0","id":' + i + b',"error":{"code":-32001,"message":"bad \xff\xfe bytes \xed\xa0\x80 end","data":"\xc0\xaf"}}')
        elif name == "toolerr":
            send(b'{"jsonrpc":"2.0","id":' + i + b',"result":{"isError":true,"content":[{"type":"text","text":"bad \xff bytes"}]}}')
        else:
            send(b'{"jsonrpc":"2.0","id":' + i + b',"error":{"code":-32001,"message":"lone \\ud800 surrogate \\udfff"}}')
    elif meth == "ping":
        send(b'{"jsonrpc":"2.0","id":' + i + b',"result":{}}')
    else:
        send(b'{"jsonrpc":"2.0","id":' + i + b',"error":{"code":-32601,"message":"no"}}')
`

// TestE2EOtelHostileBackendInvalidUTF8: a backend's error messages with
// raw invalid UTF-8 and lone surrogate escapes reach the collector (as
// U+FFFD) without costing the spans around them.
func TestE2EOtelHostileBackendInvalidUTF8(t *testing.T) {
	needOtel(t)
	script := filepath.Join(t.TempDir(), "bad.py")
	if err := os.WriteFile(script, []byte(badBackend), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := func(ep string) string {
		return otelConfig(t, ep) + fmt.Sprintf("backend \"bad\" {\n  type = \"stdio\"\n  command = \"python3\"\n  args = [%s]\n}\n", hclString(script))
	}
	col, _ := hostile(t, cfg, []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"bad_rpcerr","arguments":{}}}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"bad_toolerr","arguments":{}}}`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"bad_surrogate","arguments":{}}}`,
	})
	waitFor(t, 10*time.Second, "the backend's error in a span", func() bool {
		spans, _ := col.Spans()
		for _, sp := range spans {
			if sp.Kind == "CLIENT" && strings.Contains(sp.Status.Message, "bad \uFFFD") {
				return true
			}
		}
		return false
	})
}

// TestE2EOtelHostileSecrets: nothing secret reaches the collector: not
// the credentials in an HTTP backend's URL (user info, an API key in the
// query) or its headers when the backend fails, nor a client's bearer
// token, right or wrong.
func TestE2EOtelHostileSecrets(t *testing.T) {
	needOtel(t)
	col := otelcoltest.Start(t, otelcoltest.Options{})
	backendURL, backend := startDemoHTTPProc(t, "web")
	u := strings.Replace(backendURL, "http://", "http://user:URLPASS-4711@", 1) + "?api_key=QUERYKEY-4711"
	cfg := authOtelConfig(t, col.GRPCEndpoint()) + fmt.Sprintf(`
backend "web" {
  type    = "streamable-http"
  url     = %q
  headers = { Authorization = "Bearer HDRSECRET-4711", X-Api-Key = "HDRKEY-4711" }
}
`, u)
	url, proc := startArgus(t, cfg)
	s := connectWithToken(t, url, "alice-token-0123456789")
	if _, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "web_echo", Arguments: map[string]any{"message": "up"}}); err != nil {
		t.Fatalf("call through the HTTP backend: %v", err)
	}
	// Wrong tokens, from anonymous clients.
	for _, auth := range []string{"Bearer WRONGTOKEN-4711", "Basic " + "V1JPTkdCQVNJQy00NzExOng="} {
		rawPost(t, url, "", http.Header{"Authorization": {auth}}, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"web_echo","arguments":{}}}`)
	}
	backend.Stop()
	for range 3 {
		_, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "web_echo", Arguments: map[string]any{"message": "down"}})
		t.Logf("call with the backend down: %v", err)
	}
	waitFor(t, 20*time.Second, "a failed call's span", func() bool {
		spans, _ := col.Spans()
		for _, sp := range spans {
			if sp.Kind == "SERVER" && sp.Status.Code == "ERROR" && sp.Attributes["mcp.backend"] == "web" {
				return true
			}
		}
		return false
	})
	col.WaitMetric(t, "argus.requests", 10*time.Second)
	time.Sleep(time.Second)
	for _, f := range []string{col.TracesFile(), col.MetricsFile(), col.LogsFile()} {
		data, _ := os.ReadFile(f)
		for _, secret := range []string{"URLPASS-4711", "QUERYKEY-4711", "HDRSECRET-4711", "HDRKEY-4711", "alice-token-0123456789", "WRONGTOKEN-4711", "V1JPTkdCQVNJQy00NzExOng="} {
			if i := strings.Index(string(data), secret); i >= 0 {
				t.Errorf("%s reached the collector (%s): ...%s...", secret, filepath.Base(f), data[max(0, i-200):min(len(data), i+100)])
			}
		}
	}
	for _, secret := range []string{"URLPASS-4711", "QUERYKEY-4711", "HDRSECRET-4711", "HDRKEY-4711", "alice-token-0123456789", "WRONGTOKEN-4711"} {
		if strings.Contains(proc.Stderr.String(), secret) {
			t.Errorf("%s is in argus's log", secret)
		}
	}
}
