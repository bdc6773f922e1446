package main_test

// One end-to-end test of the redaction promise: canaries planted in every
// secret source never reach any output channel, in any encoding.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/internal/syncbuf"
	"github.com/argusmcp/argus/internal/testbin"
)

// canary values, one per secret source. Each holds characters that make
// its JSON, \u, base64 and percent forms differ from the raw form.
var canary = map[string]string{
	"env":        "cnyEnv-Q7w<&>/+=ü9",
	"file":       "cnyFile-R4t<&>/+=é2",
	"auth":       "cnyAuth-S1y/+=Z0123456789",
	"mgmt":       "cnyMgmt-T5u/+=X0123456789",
	"header":     "cnyHdr-U8i<&>/+=ö3",
	"plugin":     "cnyPlug-V2o<&>/+=ß6-hmac-key",
	"otel":       "cnyOtel-W6p<&>/+å4", // no "=": a malformed header list
	"reloadtok":  "cnyRld-Y3a/+=K0123456789",
	"invalidurl": "cnyUrl-Z9s<&>ä.example/mcp",
}

// forms returns the encodings of s an output channel could carry.
func forms(s string) map[string]string {
	js, _ := json.Marshal(s)
	var u strings.Builder
	for _, r := range string(js[1 : len(js)-1]) {
		if r >= utf8.RuneSelf || r == '<' || r == '>' || r == '&' {
			fmt.Fprintf(&u, `\u%04x`, r)
		} else {
			u.WriteRune(r)
		}
	}
	return map[string]string{
		"raw": s, "json": string(js[1 : len(js)-1]), "u-escaped": u.String(),
		"base64": base64.StdEncoding.EncodeToString([]byte(s)), "base64url": base64.RawURLEncoding.EncodeToString([]byte(s)),
		"percent": url.QueryEscape(s), "percent-path": url.PathEscape(s),
	}
}

// scan fails the test for every canary form found in out.
func scan(t *testing.T, channel, out string) {
	t.Helper()
	if out == "" {
		t.Errorf("%s: no output to scan", channel)
		return
	}
	for name, c := range canary {
		for form, v := range forms(c) {
			if strings.Contains(out, v) {
				t.Errorf("%s leaks the %s canary (%s form %q)", channel, name, form, v)
			}
		}
	}
}

func demoServer(t *testing.T) string {
	t.Helper()
	p, err := testbin.Path(testbin.DemoServer)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// everyCanary is a message carrying every canary a running gateway knows
// (not those of files it never loaded) in every form, which the demo
// backend's fail tool returns as its error.
func everyCanary() string {
	var b strings.Builder
	for name, c := range canary {
		if name == "reloadtok" || name == "invalidurl" {
			continue
		}
		for _, v := range forms(c) {
			b.WriteString(v + " | ")
		}
	}
	return b.String()
}

func TestE2ERedactionEveryChannel(t *testing.T) {
	dir := t.TempDir()
	env := append(os.Environ(),
		"CANARY_ENV="+canary["env"],
		"CANARY_URL="+canary["invalidurl"],
		"ARGUS_MGMT_TOKEN="+canary["mgmt"],
	)
	if err := os.WriteFile(filepath.Join(dir, "secret.txt"), []byte(canary["file"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, extraEnv []string, args ...string) (string, string) {
		t.Helper()
		var o, e bytes.Buffer
		cmd := exec.Command(argusBin(t), args...)
		cmd.Env, cmd.Stdout, cmd.Stderr = append(env, extraEnv...), &o, &e
		if err := cmd.Run(); err != nil {
			if _, ok := err.(*exec.ExitError); !ok {
				t.Fatal(err)
			}
		}
		return o.String(), e.String()
	}
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// Broken configurations: validate and serve must fail with redacted
	// diagnostics (env() and file() values, tokens in snippets, plugin
	// sensitive attributes, malformed OTLP header variables).
	broken := map[string]string{
		"env url": `backend "x" {
  type = "streamable-http"
  url  = env("CANARY_URL")
}`,
		"file and token snippet": fmt.Sprintf(`server { listen = file("secret.txt") }
auth {
  token "carol" { value = %q }
  token "carol" { value = "%s-2" }
}`, canary["auth"], canary["auth"]),
		"plugin sensitive attribute": fmt.Sprintf(`audit { enabled = false }
server { listen = "127.0.0.1:0" }
telemetry {
  enabled = true
  exporter "otlp" "x" {
    headers  = { k = %q }
    endpoint = %q
  }
}`, canary["plugin"], canary["plugin"]),
		"otel headers": `audit { enabled = false }
server { listen = "127.0.0.1:0" }
telemetry { enabled = true }`,
	}
	for name, src := range broken {
		path := write("broken.hcl", src)
		otel := []string{"OTEL_EXPORTER_OTLP_HEADERS=" + canary["otel"]}
		vo, ve := run(t, otel, "validate", "-config", path)
		if !strings.Contains(ve, "Error") {
			t.Errorf("%s: validate did not fail:\n%s%s", name, vo, ve)
		}
		scan(t, "validate ("+name+")", vo+ve)
		so := serveBriefly(t, append(env, otel...), path)
		if !strings.Contains(strings.ToLower(so), "error") {
			t.Errorf("%s: serve reported no error:\n%s", name, so)
		}
		scan(t, "serve start-up ("+name+")", so)
	}

	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) { runningGateway(t, dir, env, format, write, run) })
	}
}

func runningGateway(t *testing.T, dir string, env []string, format string,
	write func(string, string) string, run func(*testing.T, []string, ...string) (string, string)) {
	addr := freeAddr(t)
	auditFile := filepath.Join(dir, "audit-"+format+".jsonl")
	good := fmt.Sprintf(`server { listen = %q }
log { format = %q }
auth {
  token "alice" { value = %q }
}
management { token = file("secret.txt") }
backend "demo" {
  type    = "stdio"
  command = %q
  env     = { DEMO_SECRET = env("CANARY_ENV") }
}
backend "remote" {
  type            = "streamable-http"
  url             = "http://127.0.0.1:1/mcp"
  headers         = { Authorization = "Bearer %s" }
  connect_retries = 0
}
audit {
  log_events = true
  sink "jsonl" "main" {
    file     = %q
    hmac_key = %q
  }
}
`, addr, format, canary["auth"], demoServer(t), canary["header"], auditFile, canary["plugin"])
	cfgPath := write("argus-"+format+".hcl", good)
	out := &syncbuf.Buffer{}
	cmd := exec.Command(argusBin(t), "serve", "-config", cfgPath)
	cmd.Env = append(env, "OTEL_EXPORTER_OTLP_HEADERS=k="+url.QueryEscape(canary["otel"]))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("argus output:\n%s", out.String())
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "listening") {
		if time.Now().After(deadline) || cmd.ProcessState != nil {
			t.Fatalf("gateway did not start:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The listener opens first; start-up (backends, plugins) goes on
	// behind it until /ready says 200, as an orchestrator would wait.
	for {
		resp, err := http.Get("http://" + addr + "/manage/v1/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway never became ready:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	// MCP: the backend answers with an error that carries every canary.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "canary", Version: "1"}, nil)
	hc := &http.Client{Transport: bearer{token: canary["auth"]}}
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: "http://" + addr + "/mcp", HTTPClient: hc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "demo_fail", Arguments: map[string]any{"message": everyCanary()}}); err == nil {
		t.Error("fail tool succeeded")
	}
	cs.Close()

	// Management API bodies, with the management token from $ARGUS_MGMT_TOKEN.
	mgmt := "http://" + addr + "/manage/v1"
	var bodies strings.Builder
	get := func(method, path string) (int, string) {
		req, _ := http.NewRequest(method, mgmt+path, nil)
		req.Header.Set("Authorization", "Bearer "+canary["mgmt"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		bodies.Write(b)
		return resp.StatusCode, string(b)
	}
	for _, p := range []string{"/status", "/backends", "/backends/remote", "/capabilities", "/sessions", "/plugins", "/events", "/health", "/ready"} {
		if code, body := get("GET", p); code != http.StatusOK {
			t.Errorf("GET %s: %d %s", p, code, body)
		}
	}
	// An invalid reload whose snippets show live and new tokens.
	broken := strings.Replace(good, fmt.Sprintf("token \"alice\" { value = %q }", canary["auth"]),
		fmt.Sprintf("token \"alice\" { value = %q }\n  token \"alice\" { value = %q }", canary["auth"], canary["reloadtok"]), 1)
	if err := os.WriteFile(cfgPath, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	code, body := get("POST", "/reload")
	if code != http.StatusBadRequest || !strings.Contains(body, "Duplicate auth token") {
		t.Errorf("reload of a broken file: %d %s", code, body)
	}
	scan(t, "management API bodies", bodies.String())

	// SIGHUP with the broken file logs the diagnostics.
	cmd.Process.Signal(syscall.SIGHUP)
	for !strings.Contains(out.String(), "reload failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload failure logged:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := os.WriteFile(cfgPath, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}

	// CLI output.
	so, se := run(t, nil, "status", "-config", cfgPath)
	if !strings.Contains(so, "remote") {
		t.Errorf("argus status:\n%s%s", so, se)
	}
	scan(t, "argus status", so+se)
	po, pe := run(t, nil, "plugins", "-config", cfgPath)
	scan(t, "argus plugins", po+pe)

	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	logs := out.String()
	if !strings.Contains(logs, "[REDACTED]") {
		t.Errorf("nothing was redacted in the log; the test plants nothing")
	}
	if format == "json" {
		for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
			if !json.Valid([]byte(line)) {
				t.Errorf("log line is not JSON: %s", line)
			}
		}
	}
	scan(t, "log ("+format+")", logs)
	trail, err := os.ReadFile(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(trail, []byte(`"outcome":{"status":"error"`)) || !bytes.Contains(trail, []byte("[REDACTED]")) {
		t.Errorf("audit file lacks the redacted failing call:\n%s", trail)
	}
	scan(t, "audit file", string(trail))
}

// serveBriefly runs argus serve on path until it exits (a start-up error)
// or, when a plugin failure does not stop start-up, a few seconds after
// it listens, and returns its output.
func serveBriefly(t *testing.T, env []string, path string) string {
	t.Helper()
	out := &syncbuf.Buffer{}
	cmd := exec.Command(argusBin(t), "serve", "-config", path)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	deadline := time.After(60 * time.Second)
	var listening <-chan time.Time
	for {
		select {
		case <-done:
			return out.String()
		case <-deadline:
			cmd.Process.Kill()
			<-done
			t.Errorf("serve neither failed nor listened:\n%s", out.String())
			return out.String()
		case <-listening:
			cmd.Process.Signal(syscall.SIGTERM)
			<-done
			return out.String()
		case <-time.After(20 * time.Millisecond):
			if listening == nil && strings.Contains(out.String(), "listening") {
				listening = time.After(3 * time.Second)
			}
		}
	}
}

// bearer adds the client's token to every request.
type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}
