package gateway_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
