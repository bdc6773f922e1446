package gateway_test

// End-to-end tests of health checks, the backend lifecycle and the
// management API, against the real argus binary.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/manage"
	"github.com/argusmcp/argus/host/supervisor"
	"github.com/argusmcp/argus/internal/testbin"
)

const mgmtToken = "e2e-mgmt-9f8e7d6c5b4a3210"

const mgmtBlock = `management { token = "` + mgmtToken + `" }
`

// mgmt calls the management API of the argus serving mcpURL.
func mgmt(t *testing.T, mcpURL, method, path, token string, out any) int {
	t.Helper()
	base := strings.TrimSuffix(mcpURL, "/mcp") + manage.Prefix
	req, _ := http.NewRequest(method, base+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, body)
		}
	}
	return resp.StatusCode
}

func backendStatus(t *testing.T, url, name string) supervisor.BackendStatus {
	t.Helper()
	var b supervisor.BackendStatus
	if code := mgmt(t, url, "GET", "/backends/"+name, mgmtToken, &b); code != 200 {
		t.Fatalf("backend %s: %d", name, code)
	}
	return b
}

// waitFor polls cond every 20ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestE2EManagementAuth(t *testing.T) {
	url, _ := startArgus(t, mgmtBlock+demoStdio(t, "alpha"))
	for _, p := range []string{"/health", "/ready"} {
		if code := mgmt(t, url, "GET", p, "", nil); code != 200 {
			t.Errorf("public %s: %d", p, code)
		}
	}
	for _, tc := range []struct{ method, path, token string }{
		{"GET", "/backends", ""},
		{"GET", "/backends", "not-the-token-0123456789"},
		{"POST", "/reconnect/health", ""},
		{"GET", "/health/../backends", ""},
		{"GET", "/status", ""},
	} {
		if code := mgmt(t, url, tc.method, tc.path, tc.token, nil); code != http.StatusUnauthorized {
			t.Errorf("%s %s (token %q): %d, want 401", tc.method, tc.path, tc.token, code)
		}
	}
	if code := mgmt(t, url, "GET", "/status", mgmtToken, nil); code != 200 {
		t.Errorf("status with token: %d", code)
	}

	// Weak tokens stop start-up, from the config or the environment (a
	// configuration diagnostic since validate checks them too).
	for _, tc := range []struct{ cfg, env string }{
		{`management { token = "changeme" }`, ""},
		{`management { token = "short-tok" }`, ""},
		{mgmtBlock, "password12345678"},
	} {
		cfg := writeConfig(t, tc.cfg+"\n"+demoStdio(t, "alpha"))
		cmd := exec.Command(binPath(t, testbin.Argus), "serve", "-config", cfg)
		cmd.Env = append(os.Environ(), "ARGUS_MGMT_TOKEN="+tc.env)
		if tc.env == "" {
			cmd.Env = slices.DeleteFunc(cmd.Env, func(s string) bool { return strings.HasPrefix(s, "ARGUS_MGMT_TOKEN=") })
		}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(strings.ToLower(string(out)), "weak management token") {
			t.Errorf("weak token %q/%q: %v\n%s", tc.cfg, tc.env, err, out)
		}
	}
}

func writeConfig(t *testing.T, src string) string {
	t.Helper()
	p := t.TempDir() + "/argus.hcl"
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestE2EHealthLifecycle: a killed stdio backend goes Failed, leaves the
// catalogue and /health degrades; it comes back by itself. A slow HTTP
// backend goes Degraded and recovers.
func TestE2EHealthLifecycle(t *testing.T) {
	httpURL := startDemoHTTP(t, "beta")
	const interval, threshold, timeout = 100 * time.Millisecond, 2, 500 * time.Millisecond
	url, _ := startArgus(t, mgmtBlock+fmt.Sprintf(`
health {
  interval          = "%s"
  timeout           = "%s"
  failure_threshold = %d
  degraded_latency  = "150ms"
}
`, interval, timeout, threshold)+strings.Replace(demoStdio(t, "alpha"), `type = "stdio"`, `type = "stdio"
  retry_backoff = "1s"`, 1)+fmt.Sprintf(`
backend "beta" {
  type = "streamable-http"
  url  = %q
}
`, httpURL))
	var h manage.Health
	if code := mgmt(t, url, "GET", "/health", "", &h); code != 200 || h.Status != "healthy" || h.Backends.Total != 2 || h.Backends.Healthy != 2 {
		t.Fatalf("health at start: %d %+v", code, h)
	}
	changed := make(chan struct{}, 16)
	s := relayClient(t, url, &mcp.ClientOptions{ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} }})
	waitFor(t, 3*time.Second, "a health check", func() bool { return backendStatus(t, url, "alpha").Health.Checks > 0 })

	pid, _ := strconv.Atoi(call(t, s, "alpha_pid", nil))
	syscall.Kill(pid, syscall.SIGKILL)
	killed := time.Now()
	bound := interval*threshold + timeout + 500*time.Millisecond
	waitFor(t, bound, "alpha Failed", func() bool { return backendStatus(t, url, "alpha").Phase == "Failed" })
	t.Logf("alpha Failed %v after the kill (bound %v)", time.Since(killed).Round(time.Millisecond), bound)
	if code := mgmt(t, url, "GET", "/health", "", &h); code != 200 || h.Status != "degraded" || h.Backends.Healthy != 1 {
		t.Errorf("health with alpha down: %d %+v", code, h)
	}
	select {
	case <-changed:
	case <-time.After(3 * time.Second):
		t.Error("no list_changed when alpha failed")
	}
	if slices.Contains(toolNames(t, s), "alpha_echo") {
		t.Error("a failed backend's tools are still listed")
	}
	waitFor(t, 10*time.Second, "alpha Ready again", func() bool { return backendStatus(t, url, "alpha").Phase == "Ready" })
	waitFor(t, 3*time.Second, "alpha's tools back", func() bool { return slices.Contains(toolNames(t, s), "alpha_echo") })
	if got := call(t, s, "alpha_echo", map[string]any{"message": "back"}); got != "back" {
		t.Errorf("alpha after recovery: %q", got)
	}
	b := backendStatus(t, url, "alpha")
	oneConditionPerType(t, b)

	call(t, s, "beta_slow_pings", map[string]any{"ms": 300})
	waitFor(t, 3*time.Second, "beta Degraded", func() bool { return backendStatus(t, url, "beta").Phase == "Degraded" })
	if code := mgmt(t, url, "GET", "/health", "", &h); h.Status != "degraded" {
		t.Errorf("health with beta slow: %d %+v", code, h)
	}
	call(t, s, "beta_slow_pings", map[string]any{"ms": 0})
	waitFor(t, 3*time.Second, "beta Ready", func() bool { return backendStatus(t, url, "beta").Phase == "Ready" })

	var ev struct{ Events []map[string]any }
	mgmt(t, url, "GET", "/events?severity=warning", mgmtToken, &ev)
	var phases []string
	for _, e := range ev.Events {
		if e["kind"] == "phase" {
			phases = append(phases, fmt.Sprint(e["subject"], ":", e["data"].(map[string]any)["to"]))
		}
	}
	if !slices.Contains(phases, "alpha:Failed") || !slices.Contains(phases, "beta:Degraded") {
		t.Errorf("events: %v", phases)
	}
}

// oneConditionPerType: the four conditions a check always sets, each once,
// plus ProbeUnavailable when the probe plugin itself missed a check (it can
// on a loaded machine; that is true, not a duplicate).
func oneConditionPerType(t *testing.T, b supervisor.BackendStatus) {
	t.Helper()
	types := condTypes(b)
	for _, want := range []string{"Connected", "Healthy", "Serving", "HealthCheckFailed"} {
		if !slices.Contains(types, want) {
			t.Errorf("no %s condition after %d checks: %+v", want, b.Health.Checks, b.Conditions)
		}
	}
	slices.Sort(types)
	extra := len(types) - 4
	if len(slices.Compact(slices.Clone(types))) != len(types) || extra > 1 ||
		(extra == 1 && !slices.Contains(types, "ProbeUnavailable")) {
		t.Errorf("after %d checks: %d conditions: %+v", b.Health.Checks, len(b.Conditions), b.Conditions)
	}
}

func condTypes(b supervisor.BackendStatus) []string {
	var out []string
	for _, c := range b.Conditions {
		out = append(out, c.Type)
	}
	return out
}

// TestE2EModernBackendStaysReady: a backend on revision 2026-07-28 (no
// ping) stays Ready across many checks.
func TestE2EModernBackendStaysReady(t *testing.T) {
	httpURL := startDemoHTTP(t, "modern")
	url, _ := startArgus(t, mgmtBlock+fmt.Sprintf(`
health { interval = "30ms" }
backend "modern" {
  type             = "streamable-http"
  url              = %q
  protocol_version = "2026-07-28"
}
`, httpURL))
	var b supervisor.BackendStatus
	waitFor(t, 10*time.Second, "30 checks", func() bool {
		b = backendStatus(t, url, "modern")
		if b.Phase != "Ready" {
			t.Fatalf("modern backend left Ready: %+v", b)
		}
		return b.Health.Checks >= 30
	})
	if b.ProtocolVersion != "2026-07-28" || b.Health.Status != "healthy" || b.Health.ConsecutiveFailures != 0 {
		t.Errorf("modern backend: %+v", b)
	}
}

// TestE2EFlappingConditionsBounded: 1,000 checks of a backend that is slow
// every other time leave one condition per type.
func TestE2EFlappingConditionsBounded(t *testing.T) {
	url, _ := startArgus(t, mgmtBlock+`
health {
  interval         = "1ms"
  degraded_latency = "5ms"
}
`+demoStdio(t, "flappy"))
	s := connect(t, url)
	call(t, s, "flappy_slow_pings", map[string]any{"ms": 10, "flap": true})
	var b supervisor.BackendStatus
	waitFor(t, 60*time.Second, "1000 checks", func() bool {
		b = backendStatus(t, url, "flappy")
		return b.Health.Checks >= 1000
	})
	oneConditionPerType(t, b)
	var ev struct{ Events []map[string]any }
	mgmt(t, url, "GET", "/events", mgmtToken, &ev)
	if len(ev.Events) < 100 {
		t.Errorf("a flapping backend produced only %d events", len(ev.Events))
	}
}

// TestE2EReload adds and removes backends through POST /reload while a
// client session stays connected; an invalid configuration is refused with
// its diagnostics and the running one stays.
func TestE2EReload(t *testing.T) {
	alpha, beta := demoStdio(t, "alpha"), demoStdio(t, "beta")
	url, proc := startArgus(t, mgmtBlock+alpha)
	path := proc.Cmd.Args[len(proc.Cmd.Args)-1]
	src, _ := os.ReadFile(path) // with the listen address startArgus added
	changed := make(chan struct{}, 16)
	s := relayClient(t, url, &mcp.ClientOptions{ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} }})
	reload := func(cfg string) (int, map[string]any) {
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		code := mgmt(t, url, "POST", "/reload", mgmtToken, &out)
		return code, out
	}
	if code, out := reload(string(src) + beta); code != 200 {
		t.Fatalf("reload adding beta: %d %v", code, out)
	}
	waitFor(t, 10*time.Second, "beta's tools", func() bool { return slices.Contains(toolNames(t, s), "beta_echo") })
	if got := call(t, s, "beta_echo", map[string]any{"message": "new"}); got != "new" {
		t.Errorf("beta_echo: %q", got)
	}
	if code, out := reload(strings.Replace(string(src), alpha, "", 1) + beta); code != 200 {
		t.Fatalf("reload removing alpha: %d %v", code, out)
	}
	waitFor(t, 5*time.Second, "alpha gone", func() bool { return !slices.Contains(toolNames(t, s), "alpha_echo") })
	if got := call(t, s, "beta_echo", map[string]any{"message": "same session"}); got != "same session" {
		t.Errorf("session after reloads: %q", got)
	}
	if _, ok := backendStatusOK(t, url, "alpha"); ok {
		t.Error("removed backend still reported")
	}
	code, out := reload(string(src) + "backend \"broken\" {\n  type = \"stdio\"\n}\n")
	if code != 400 || !strings.Contains(fmt.Sprint(out["diagnostics"]), "Missing command") {
		t.Errorf("invalid reload: %d %v", code, out)
	}
	if got := call(t, s, "beta_echo", map[string]any{"message": "still"}); got != "still" {
		t.Errorf("after refused reload: %q", got)
	}
	if len(changed) == 0 {
		t.Error("no list_changed during reloads")
	}
}

func backendStatusOK(t *testing.T, url, name string) (supervisor.BackendStatus, bool) {
	t.Helper()
	var b supervisor.BackendStatus
	code := mgmt(t, url, "GET", "/backends/"+name, mgmtToken, &b)
	return b, code == 200
}

// TestE2EPrometheus: telemetry { prometheus = true } serves the metrics at
// /metrics on the server listener; with no exporter block nothing is
// pushed.
func TestE2EPrometheus(t *testing.T) {
	url, proc := startArgus(t, `
telemetry {
  enabled    = true
  prometheus = true
}
`+demoStdio(t, "demo"))
	s := connect(t, url)
	for range 3 {
		call(t, s, "demo_echo", map[string]any{"message": "m"})
	}
	resp, err := http.Get(strings.TrimSuffix(url, "/mcp") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		`argus_requests_total{backend="demo",`,
		`tool_name="demo_echo"`,
		`argus_request_duration_seconds_bucket`,
		`mcp_server_operation_duration_seconds_count`,
		`argus_backend_phase{backend="demo",`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(proc.Stderr.String(), "exporter") && strings.Contains(proc.Stderr.String(), "OTLP export failed") {
		t.Error("an exporter was started although none is configured")
	}
}

// TestE2EStatusCommand: `argus status` prints the gateway's health,
// backends and plugins from the management API.
func TestE2EStatusCommand(t *testing.T) {
	url, proc := startArgus(t, mgmtBlock+demoStdio(t, "alpha"))
	path := proc.Cmd.Args[len(proc.Cmd.Args)-1]
	waitFor(t, 10*time.Second, "alpha Ready", func() bool { return backendStatus(t, url, "alpha").Phase == "Ready" })
	out, err := exec.Command(binPath(t, testbin.Argus), "status", "-config", path).CombinedOutput()
	if err != nil {
		t.Fatalf("argus status: %v\n%s", err, out)
	}
	for _, want := range []string{"Gateway  HEALTHY", "BACKEND", "alpha", "stdio", "Ready", "PLUGIN INSTANCE", "probe.default", "sink.default"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	// A wrong token is a clear user error.
	cmd := exec.Command(binPath(t, testbin.Argus), "status", "-config", path)
	cmd.Env = append(os.Environ(), "ARGUS_MGMT_TOKEN=another-token-0123456789")
	out, err = cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "401") {
		t.Errorf("status with a wrong token: %v\n%s", err, out)
	}
}

// TestE2EHealthCheckFailedCondition: a failing health check shows as the
// published condition {"type":"HealthCheckFailed","status":true,...}, with
// every condition's status a JSON boolean, and turns false once checks
// pass again.
func TestE2EHealthCheckFailedCondition(t *testing.T) {
	url, _ := startArgus(t, mgmtBlock+`
health {
  interval          = "50ms"
  timeout           = "100ms"
  failure_threshold = 100
}
`+demoStdio(t, "alpha"))
	s := connect(t, url)
	condition := func(typ string) map[string]any {
		var b struct{ Conditions []map[string]any }
		if code := mgmt(t, url, "GET", "/backends/alpha", mgmtToken, &b); code != 200 {
			t.Fatalf("backend: %d", code)
		}
		var found map[string]any
		for _, c := range b.Conditions {
			if _, ok := c["status"].(bool); !ok {
				t.Fatalf("condition status is not a JSON boolean: %v", c)
			}
			if c["type"] == typ {
				found = c
			}
		}
		return found
	}
	waitFor(t, 30*time.Second, "a passing check", func() bool {
		c := condition("HealthCheckFailed")
		return c != nil && c["status"] == false
	})
	call(t, s, "alpha_slow_pings", map[string]any{"ms": 400})
	var c map[string]any
	waitFor(t, 30*time.Second, "HealthCheckFailed true", func() bool {
		c = condition("HealthCheckFailed")
		return c["status"] == true
	})
	if msg, _ := c["message"].(string); !strings.Contains(msg, "deadline exceeded") && !strings.Contains(msg, "timed out") || c["last_transition"] == nil || c["reason"] != "Failing" {
		t.Errorf("HealthCheckFailed: %v", c)
	}
	call(t, s, "alpha_slow_pings", map[string]any{"ms": 0})
	waitFor(t, 30*time.Second, "HealthCheckFailed false again", func() bool {
		return condition("HealthCheckFailed")["status"] == false
	})
}
