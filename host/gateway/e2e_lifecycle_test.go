package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/internal/testbin"
)

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || i+2 >= len(stat) || (stat[i+2] != 'Z' && stat[i+2] != 'X')
}

func backendPIDs(t *testing.T, url string, tools ...string) []int {
	t.Helper()
	s := connect(t, url)
	var pids []int
	for _, tool := range tools {
		res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: tool})
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(text(t, res))
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	return pids
}

func waitGone(t *testing.T, pids []int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Errorf("backend process %d outlived argus", pid)
				syscall.Kill(pid, syscall.SIGKILL)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestE2ENoOrphans checks the process table: stdio backends end with argus,
// after a graceful SIGTERM and after a SIGKILL that gives argus no chance
// to clean up.
func TestE2ENoOrphans(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			url, proc := startArgus(t, demoStdio(t, "alpha")+demoStdio(t, "beta"))
			pids := backendPIDs(t, url, "alpha_pid", "beta_pid")
			for _, pid := range pids {
				if !alive(pid) {
					t.Fatalf("backend %d not running", pid)
				}
			}
			proc.Cmd.Process.Signal(sig)
			select {
			case <-proc.Done():
			case <-time.After(15 * time.Second):
				t.Fatal("argus did not exit")
			}
			if sig == syscall.SIGTERM && proc.Err() != nil {
				t.Errorf("graceful shutdown exit: %v", proc.Err())
			}
			waitGone(t, pids, 5*time.Second)
		})
	}
}

// canaries are secrets with characters that every encoder escapes
// differently: quotes, backslashes, non-ASCII, an astral-plane rune.
var canaries = map[string]string{
	"ARGUS_CANARY_TOKEN":  `tök"en\ünïcødé-0123456789`,
	"ARGUS_CANARY_HEADER": `hdr"sec\ret-✓-4242`,
	"ARGUS_CANARY_ENV":    "env\"line1\nline2\\ü-x",
	"ARGUS_CANARY_ARG":    `arg"q\ü😀-secret`,
}

const fileCanary = "file\"sec\\ret\u00e9-xyz\n"

// encodingsOf lists the forms in which s could appear in log output.
func encodingsOf(s string) []string {
	out := []string{s}
	j, _ := json.Marshal(s)
	out = append(out, string(j[1:len(j)-1]))
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	out = append(out, strings.TrimSpace(b.String())[1:len(strings.TrimSpace(b.String()))-1])
	q := strconv.Quote(s)
	out = append(out, q[1:len(q)-1])
	a := strconv.QuoteToASCII(s)
	out = append(out, a[1:len(a)-1])
	// A JSON string of the Go-quoted form (an error message holding %q).
	jq, _ := json.Marshal(q)
	out = append(out, string(jq[1:len(jq)-1]))
	return out
}

// TestE2ERedaction plants canary secrets in every place a configuration
// can hold one, runs a full scenario at trace level in both log formats,
// and asserts that argus's output contains none of them in any encoding.
func TestE2ERedaction(t *testing.T) {
	for k, v := range canaries {
		t.Setenv(k, v)
	}
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "mgmt.secret"), []byte(fileCanary), 0o600); err != nil {
				t.Fatal(err)
			}
			httpURL := startDemoHTTP(t, "remote")
			cfg := fmt.Sprintf(`
log {
  level  = "trace"
  format = %q
}
auth {
  token "alice" { value = env("ARGUS_CANARY_TOKEN") }
}
management {
  token = file(%q)
}
backend "alpha" {
  type    = "stdio"
  command = %s
  args    = ["-name", "alpha"]
  env     = { DEMO_SECRET = env("ARGUS_CANARY_ENV") }
}
backend "remote" {
  type    = "streamable-http"
  url     = %q
  headers = { Authorization = "Bearer ${env("ARGUS_CANARY_HEADER")}" }
}
# This backend fails at start-up and prints its arguments, the canary
# among them, Go-quoted on stderr, which argus relays into its log.
backend "leaky" {
  type            = "stdio"
  command         = %s
  args            = ["-name", "leaky", env("ARGUS_CANARY_ARG")]
  connect_retries = 0
}
`, format, filepath.Join(dir, "mgmt.secret"), hclString(binPath(t, testbin.DemoServer)), httpURL, hclString(binPath(t, testbin.DemoServer)))
			url, proc := startArgus(t, cfg)

			// A full scenario: refused and accepted clients, calls that
			// succeed and fail, with the secrets in the payloads too.
			for _, tok := range []string{"", "Bearer " + canaries["ARGUS_CANARY_HEADER"]} { // refused
				req, _ := http.NewRequest("POST", url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"alpha_echo"}}`))
				req.Header.Set("Authorization", tok)
				if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("token %q accepted: %v", tok, err)
				} else {
					resp.Body.Close()
				}
			}
			s := connectWithToken(t, url, canaries["ARGUS_CANARY_TOKEN"])
			ctx := context.Background()
			for _, tool := range []string{"alpha_echo", "remote_echo"} {
				for _, secret := range canaries {
					res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"message": secret}})
					if err != nil || text(t, res) != secret {
						t.Fatalf("%s: %v", tool, err)
					}
				}
			}
			s.CallTool(ctx, &mcp.CallToolParams{Name: "alpha_fail", Arguments: map[string]any{"message": canaries["ARGUS_CANARY_ENV"]}})
			s.CallTool(ctx, &mcp.CallToolParams{Name: "leaky_echo"})
			s.Close()
			if err := proc.Stop(); err != nil {
				t.Errorf("argus exit: %v", err)
			}

			out := proc.Stderr.String()
			if !strings.Contains(out, "[REDACTED]") {
				t.Errorf("no redaction happened; the scenario did not log a secret:\n%s", out)
			}
			secrets := []string{fileCanary, strings.TrimSpace(fileCanary)}
			for _, v := range canaries {
				secrets = append(secrets, v)
			}
			for _, secret := range secrets {
				for _, enc := range encodingsOf(secret) {
					if strings.Contains(out, enc) {
						t.Errorf("output contains secret %q as %q", secret, enc)
					}
				}
			}
			if t.Failed() {
				t.Logf("output:\n%s", out)
			}
		})
	}
}

// connectWithToken opens an MCP session that sends a bearer token.
func connectWithToken(t *testing.T, url, token string) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "token-client", Version: "test"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	hc := &http.Client{Transport: bearer{token: token, base: http.DefaultTransport}}
	s, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: hc}, &mcp.ClientSessionOptions{ProtocolVersion: clientProtocolVersion})
	if err != nil {
		t.Fatalf("connect with token: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type bearer struct {
	token string
	base  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(r)
}
