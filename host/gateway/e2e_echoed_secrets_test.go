package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// echoingBackend is a go-sdk streamable-HTTP server with three tools
// whose calls it answers itself, each quoting the Authorization header
// Argus sent it: echo_error with a JSON-RPC error, bad_json with a body
// that is not JSON, too_large with a 413.
func echoingBackend(t *testing.T) string {
	t.Helper()
	server := mcp.NewServer(&mcp.Implementation{Name: "echoing", Version: "0"}, nil)
	for _, name := range []string{"echo_error", "bad_json", "too_large"} {
		mcp.AddTool(server, &mcp.Tool{Name: name}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{}, nil, nil
		})
	}
	sdk := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params struct {
				Name string `json:"name"`
			} `json:"params"`
		}
		json.Unmarshal(body, &msg)
		sent := r.Header.Get("Authorization")
		if msg.Method == "tools/call" {
			switch msg.Params.Name {
			case "echo_error":
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32001,"message":"bad credentials: %s","data":{"sent":%q}}}`, msg.ID, sent, sent)
				return
			case "bad_json":
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, "not json %s", sent)
				return
			case "too_large":
				http.Error(w, "too big; you sent "+sent, http.StatusRequestEntityTooLarge)
				return
			}
		}
		sdk.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

// TestE2EEchoedSecretsStayOut: a backend that quotes the credentials
// configured for it (Argus's secret) in a JSON-RPC error, in an answer
// that is not JSON (which the decoder's error quotes, cut after 32
// bytes) or in a 413's body does not get them to the client, nor any
// recognisable part of them into the audit record or the log. A probe
// found all three reaching the client, and the cut one everywhere.
func TestE2EEchoedSecretsStayOut(t *testing.T) {
	const secret = "HeaderSecretHHH888"
	t.Setenv("ARGUS_E2E_HEADER_SECRET", secret)
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	url, proc := startArgus(t, fmt.Sprintf(`
log { level = "debug" }
audit {
  sink "jsonl" "primary" {
    file  = %q
    fsync = "always"
  }
}
backend "spy" {
  type    = "streamable-http"
  url     = %q
  headers = { Authorization = "Bearer ${env("ARGUS_E2E_HEADER_SECRET")}" }
}
`, file, echoingBackend(t)))
	s := connect(t, url)
	// The most of the secret any output may hold: under half of it.
	leaks := func(out string) bool { return strings.Contains(out, secret[:len(secret)/2]) }
	for _, tool := range []string{"spy_echo_error", "spy_bad_json", "spy_too_large"} {
		_, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: map[string]any{}})
		if err == nil {
			t.Errorf("%s: no error", tool)
			continue
		}
		t.Logf("%s: %v", tool, err)
		if leaks(err.Error()) {
			t.Errorf("%s: the client was sent the backend's credentials: %v", tool, err)
		}
	}
	waitFor(t, 10e9, "three records", func() bool { return len(readAudit(t, file)) >= 3 })
	records, _ := os.ReadFile(file)
	if leaks(string(records)) {
		t.Errorf("audit records hold the backend's credentials:\n%s", records)
	}
	s.Close()
	proc.Stop()
	if out := proc.Stderr.String(); leaks(out) {
		t.Errorf("the log holds the backend's credentials:\n%s", out)
	}
}
