package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/argusmcp/argus/internal/testbin"
)

// The matrix: every client-to-server method of every revision the SDK
// serves (its serverMethodInfos), each with params absent, null, {},
// wrong-typed and complete, sent as raw JSON-RPC over HTTP.

const matrixBackend = "alpha"

// matrixMethod is one method and its complete params (for the stateful
// revisions; the stateless one gets the same plus its _meta).
type matrixMethod struct {
	method, complete string
	notification     bool
	audited          bool
}

var matrixMethods = []matrixMethod{
	{method: "initialize", complete: `{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"matrix","version":"1"}}`},
	{method: "ping", complete: `{}`},
	{method: "server/discover", complete: `{}`},
	{method: "tools/list", complete: `{"_meta":{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}`},
	{method: "tools/call", complete: `{"name":"alpha_echo","arguments":{"message":"m"},"_meta":{"progressToken":"p1"}}`, audited: true},
	{method: "resources/list", complete: `{"cursor":""}`},
	{method: "resources/templates/list", complete: `{}`},
	{method: "resources/read", complete: `{"uri":"demo://alpha/readme"}`, audited: true},
	{method: "resources/subscribe", complete: `{"uri":"demo://alpha/readme"}`},
	{method: "resources/unsubscribe", complete: `{"uri":"demo://alpha/readme"}`},
	{method: "prompts/list", complete: `{}`},
	{method: "prompts/get", complete: `{"name":"alpha_greet","arguments":{"name":"matrix"}}`, audited: true},
	{method: "completion/complete", complete: `{"ref":{"type":"ref/prompt","name":"alpha_greet"},"argument":{"name":"style","value":"s"}}`},
	{method: "logging/setLevel", complete: `{"level":"debug"}`},
	{method: "subscriptions/listen", complete: `{"notifications":{"toolsListChanged":true}}`},
	{method: "notifications/initialized", complete: `{}`, notification: true},
	{method: "notifications/cancelled", complete: `{"requestId":999999,"reason":"matrix"}`, notification: true},
	{method: "notifications/roots/list_changed", complete: `{}`, notification: true},
	{method: "notifications/progress", complete: `{"progressToken":"p1","progress":1,"total":2}`, notification: true},
}

// matrixParams are the params variants; "" means the member is absent.
var matrixParams = []struct{ name, raw string }{
	{"absent", ""}, {"null", "null"}, {"empty", "{}"}, {"array", "[]"}, {"number", "42"}, {"string", `"x"`}, {"complete", ""},
}

// A revision the matrix speaks: the session-based ones through one
// session each, the stateless one without.
type matrixRevision struct {
	version   string
	stateless bool
}

var matrixRevisions = []matrixRevision{{"2024-11-05", false}, {"2025-11-25", false}, {"2026-07-28", true}}

// TestE2EMethodMatrix sends the whole matrix to one real gateway process
// per feature set (bare; audit with record_requests and log_events;
// telemetry with Prometheus and an OTLP exporter whose endpoint is
// closed; bearer auth; all of them) and checks after every request that
// the gateway is alive and answered with a well-formed JSON-RPC response
// carrying the request's id (202 for a notification), that it never had
// to recover a panic, and that every audited call that reached the
// gateway left exactly one mcp_operation event (and one mcp_request
// record), while requests the protocol layer rejects before dispatch
// (params absent, null or of the wrong type) leave none.
func TestE2EMethodMatrix(t *testing.T) {
	const token = "matrix-token-0123456789abcdef"
	closedPort := testbin.FreePort(t)
	sets := []struct {
		name                  string
		audit, telemetry, tok bool
	}{
		{name: "bare"},
		{name: "audit", audit: true},
		{name: "telemetry", telemetry: true},
		{name: "auth", tok: true},
		{name: "all", audit: true, telemetry: true, tok: true},
	}
	for _, set := range sets {
		t.Run(set.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			auditFile := filepath.Join(dir, "audit.jsonl")
			var cfg strings.Builder
			cfg.WriteString("log { level = \"warn\" }\n")
			if set.audit {
				fmt.Fprintf(&cfg, "audit {\n  file = %s\n  record_requests = true\n  log_events = true\n}\n", hclString(auditFile))
			} else {
				cfg.WriteString("audit { enabled = false }\n")
			}
			if set.telemetry {
				fmt.Fprintf(&cfg, "telemetry {\n  enabled = true\n  prometheus = true\n  exporter \"otlp\" \"closed\" {\n    endpoint = \"127.0.0.1:%d\"\n    insecure = true\n    timeout = \"1s\"\n    max_elapsed = \"1s\"\n  }\n}\n", closedPort)
			}
			header := http.Header{}
			if set.tok {
				fmt.Fprintf(&cfg, "auth {\n  token \"matrix\" { value = %q }\n}\n", token)
				header.Set("Authorization", "Bearer "+token)
			}
			cfg.WriteString(demoStdio(t, matrixBackend))
			url, proc := startArgus(t, cfg.String())

			m := &matrixClient{t: t, url: url, header: header}
			want := map[string]int{} // JSON-RPC id of an audited request -> events expected
			for _, rev := range matrixRevisions {
				sid := ""
				if !rev.stateless {
					sid = m.initialize(rev.version)
				}
				for _, mm := range matrixMethods {
					for _, pv := range matrixParams {
						id := m.nextID()
						body := matrixBody(mm, pv.name, pv.raw, id, rev)
						what := fmt.Sprintf("%s %s params=%s", rev.version, mm.method, pv.name)
						m.check(what, sid, rev.version, body, id, mm)
						if proc.Exited() {
							t.Fatalf("%s: argus exited (%v)", what, proc.Err())
						}
						if mm.audited && !rev.stateless {
							want[id] = 0
							if pv.name == "empty" || pv.name == "complete" {
								want[id] = 1
							}
						}
					}
				}
			}
			if out := proc.Stderr.String(); strings.Contains(out, "recovered panic") || strings.Contains(out, "panic:") {
				t.Errorf("argus hit a panic:\n%s", out)
			}
			if set.audit {
				checkAuditEvents(t, auditFile, want)
			}
			if set.telemetry {
				checkPanicMetric(t, url)
			}
		})
	}
}

// matrixBody builds one request (or notification) for a params variant.
func matrixBody(mm matrixMethod, variant, raw, id string, rev matrixRevision) string {
	msg := `{"jsonrpc":"2.0"`
	if !mm.notification {
		msg += `,"id":` + id
	}
	msg += `,"method":` + jsonString(mm.method)
	switch variant {
	case "absent":
	case "complete":
		params := mm.complete
		if rev.stateless {
			// The stateless revision carries the handshake in every request.
			meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"matrix","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}`
			if strings.Contains(params, `"_meta":{`) {
				params = strings.Replace(params, `"_meta":{`, meta[:len(meta)-1]+",", 1)
			} else if params == "{}" {
				params = "{" + meta + "}"
			} else {
				params = "{" + meta + "," + params[1:]
			}
		}
		msg += `,"params":` + params
	default:
		msg += `,"params":` + raw
	}
	return msg + "}"
}

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

// matrixClient posts raw JSON-RPC to one gateway.
type matrixClient struct {
	t      *testing.T
	url    string
	header http.Header
	id     int
}

func (m *matrixClient) nextID() string { m.id++; return fmt.Sprint(m.id) }

func (m *matrixClient) post(ctx context.Context, sid, version, body string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", m.url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", version)
	for k, v := range m.header {
		req.Header[k] = v
	}
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
	}
	return http.DefaultClient.Do(req)
}

// initialize opens a session of a revision and returns its id.
func (m *matrixClient) initialize(version string) string {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := m.post(ctx, "", version, `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"`+version+`","capabilities":{},"clientInfo":{"name":"matrix","version":"1"}}}`)
	if err != nil {
		m.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" {
		m.t.Fatalf("initialize %s: HTTP %d, session %q", version, resp.StatusCode, sid)
	}
	resp, err = m.post(ctx, sid, version, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	if err != nil {
		m.t.Fatal(err)
	}
	resp.Body.Close()
	return sid
}

// matrixMessage is the part of a JSON-RPC message the matrix checks.
type matrixMessage struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Result  json.RawMessage `json:"result"`
	Error   *struct {
		Code    *int64  `json:"code"`
		Message *string `json:"message"`
	} `json:"error"`
}

// check sends one message and fails the test unless the answer is a
// well-formed JSON-RPC response with the request's id (a notification:
// 202, or a JSON-RPC error when the SDK refuses it as invalid).
func (m *matrixClient) check(what, sid, version, body, id string, mm matrixMethod) {
	m.t.Helper()
	timeout := 20 * time.Second
	if mm.method == "subscriptions/listen" {
		timeout = 2 * time.Second // a listen that is accepted stays open
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	resp, err := m.post(ctx, sid, version, body)
	if err != nil {
		m.t.Errorf("%s: %v", what, err)
		return
	}
	defer resp.Body.Close()
	if mm.notification {
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusAccepted {
			return
		}
		var msg matrixMessage
		if resp.StatusCode >= 400 && json.Unmarshal(b, &msg) == nil && wellFormedError(msg) {
			return
		}
		m.t.Errorf("%s: HTTP %d %q; want 202 or a JSON-RPC error", what, resp.StatusCode, b)
		return
	}
	msgs, err := readMessages(resp)
	for _, msg := range msgs {
		if string(msg.ID) != id {
			// Notifications on the call's stream (progress, list_changed,
			// the listen acknowledgement) are fine.
			if msg.Method != "" && len(msg.ID) == 0 {
				if msg.Method == "notifications/subscriptions/acknowledged" && mm.method == "subscriptions/listen" {
					return // the stream is open; the response comes when it ends
				}
				continue
			}
			m.t.Errorf("%s: answer with id %s, want %s", what, msg.ID, id)
			return
		}
		if msg.JSONRPC != "2.0" || (msg.Result == nil) == (msg.Error == nil) || (msg.Error != nil && !wellFormedError(msg)) {
			m.t.Errorf("%s: malformed answer %+v", what, msg)
		}
		return
	}
	m.t.Errorf("%s: HTTP %d %s, no answer with id %s (read: %v)", what, resp.StatusCode, resp.Header.Get("Content-Type"), id, err)
}

func wellFormedError(msg matrixMessage) bool {
	return msg.JSONRPC == "2.0" && msg.Error != nil && msg.Error.Code != nil && msg.Error.Message != nil
}

// readMessages reads the JSON-RPC messages of a response: one JSON body,
// or the data of each event of an SSE stream, until the stream ends or
// the request's context does.
func readMessages(resp *http.Response) ([]matrixMessage, error) {
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, err
		}
		var msg matrixMessage
		if err := json.Unmarshal(b, &msg); err != nil {
			return nil, fmt.Errorf("body %q: %w", b, err)
		}
		return []matrixMessage{msg}, nil
	}
	var out []matrixMessage
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data:")
		if !ok {
			continue
		}
		var msg matrixMessage
		if err := json.Unmarshal([]byte(strings.TrimSpace(data)), &msg); err != nil {
			return out, fmt.Errorf("event %q: %w", data, err)
		}
		out = append(out, msg)
		if len(msg.ID) > 0 || msg.Method == "notifications/subscriptions/acknowledged" {
			return out, nil
		}
	}
	return out, sc.Err()
}

// checkAuditEvents waits until the audit file holds the expected events
// and checks that each audited request id has exactly as many
// mcp_operation events and mcp_request records as expected.
func checkAuditEvents(t *testing.T, file string, want map[string]int) {
	t.Helper()
	total := 0
	for _, n := range want {
		total += n
	}
	var ops, reqs map[string]int
	deadline := time.Now().Add(20 * time.Second)
	for {
		ops, reqs = readAuditEvents(t, file)
		if sum(ops) >= total && sum(reqs) >= total || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for id, n := range want {
		if ops[id] != n || reqs[id] != n {
			t.Errorf("request id %s: %d mcp_operation events and %d mcp_request records, want %d each", id, ops[id], reqs[id], n)
		}
	}
}

func sum(m map[string]int) (n int) {
	for _, v := range m {
		n += v
	}
	return n
}

// readAuditEvents counts the events in an audit file by JSON-RPC id.
func readAuditEvents(t *testing.T, file string) (ops, reqs map[string]int) {
	t.Helper()
	ops, reqs = map[string]int{}, map[string]int{}
	b, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for line := range bytes.Lines(b) {
		var e struct {
			EventType string `json:"event_type"`
			Metadata  struct {
				ID json.RawMessage `json:"jsonrpc_id"`
			} `json:"metadata"`
		}
		if json.Unmarshal(line, &e) != nil {
			continue // a line being written
		}
		switch e.EventType {
		case "mcp_operation":
			ops[string(e.Metadata.ID)]++
		case "mcp_request":
			reqs[string(e.Metadata.ID)]++
		}
	}
	return ops, reqs
}

// checkPanicMetric reads /metrics and checks that the recovered-panics
// counter is exported and zero.
func checkPanicMetric(t *testing.T, mcpURL string) {
	t.Helper()
	resp, err := http.Get(strings.TrimSuffix(mcpURL, "/mcp") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, "argus_panics_recovered") {
			if !strings.HasSuffix(strings.TrimSpace(line), " 0") {
				t.Errorf("recovered panics: %s", line)
			}
			return
		}
	}
	t.Errorf("argus_panics_recovered not exported:\n%s", b)
}
