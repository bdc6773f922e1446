package pluginhost_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/argusmcp/argus/host/pluginhost"
	"github.com/argusmcp/argus/host/pluginhost/discovery"
	"github.com/argusmcp/argus/host/pluginhost/probe"
	"github.com/argusmcp/argus/host/pluginhost/sink"
	"github.com/argusmcp/argus/internal/leakcheck"
	"github.com/argusmcp/argus/shared"
	"github.com/argusmcp/argus/shared/healthstatus"
	"github.com/argusmcp/argus/shared/probehost"
	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// fakeBackends is the gateway as probes see it.
type fakeBackends struct {
	mu    sync.Mutex
	delay map[string]time.Duration
}

func (f *fakeBackends) Ping(ctx context.Context, name string) error {
	switch name {
	case "up", "slow":
	case "down":
		return errors.New("session closed")
	default:
		return fmt.Errorf("%w %q", probehost.ErrUnknownBackend, name)
	}
	f.mu.Lock()
	d := f.delay[name]
	f.mu.Unlock()
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fakeBackends) ListTools(ctx context.Context, name string) ([]probehost.Tool, error) {
	return []probehost.Tool{{Name: "echo"}}, nil
}

func (f *fakeBackends) Describe(_ context.Context, name string) (probehost.Backend, error) {
	switch name {
	case "up", "down", "slow":
		return probehost.Backend{Name: name, Transport: "stdio", Target: "demo", ProtocolVersion: "2025-11-25", Connected: true}, nil
	}
	return probehost.Backend{}, fmt.Errorf("%w %q", probehost.ErrUnknownBackend, name)
}

// TestE2EProbeHostService runs the built-in ping probe as a real process
// (re-executed the way argus runs built-ins) against the host service.
func TestE2EProbeHostService(t *testing.T) {
	leakcheck.Check(t)
	fb := &fakeBackends{delay: map[string]time.Duration{"slow": 150 * time.Millisecond}}
	e := newEnv(t, "", func(o *pluginhost.Options) {
		o.HostServices = map[pluginv1.Kind]func(*grpc.Server){shared.KindHealthProbe: probe.HostService(fb)}
	})
	if diags := e.rt.Start(context.Background(), e.specs(t, `health {
  probe "ping" "default" { degraded_latency = "100ms" }
}`)); diags.HasErrors() {
		t.Fatal(e.render(diags))
	}
	st := e.rt.Instance("probe.default").Status()
	if !st.Builtin || st.Version == "" {
		t.Errorf("status %+v", st)
	}
	pc, err := probe.Connect(context.Background(), e.rt.Instance("probe.default"))
	if err != nil {
		t.Fatal(err)
	}
	for backend, want := range map[string]healthstatus.Status{"up": "healthy", "slow": "degraded", "down": "unhealthy", "nope": "unhealthy"} {
		res, err := pc.Check(context.Background(), backend)
		if err != nil || res.Status != want {
			t.Errorf("Check(%s) = %+v, %v; want %s", backend, res, err, want)
		}
		if backend == "nope" && !strings.Contains(res.Message, "unknown backend") {
			t.Errorf("Check(nope) message = %q", res.Message)
		}
	}
	if _, err := sink.Connect(context.Background(), e.rt.Instance("probe.default")); !errors.Is(err, pluginhost.ErrWrongKind) {
		t.Errorf("Sink() of a probe = %v", err)
	}
}

// TestE2ECallDeadline: a call without a deadline of its own gets
// CallTimeout; a plugin that never answers cannot hang the host.
func TestE2ECallDeadline(t *testing.T) {
	e := newEnv(t, pluginDir(t, "recorder"), func(o *pluginhost.Options) { o.CallTimeout = 300 * time.Millisecond })
	if diags := e.rt.Start(context.Background(), e.specs(t, `health {
  probe "recorder" "stuck" { hang = true }
}`)); diags.HasErrors() {
		t.Fatal(e.render(diags))
	}
	pc, err := probe.Connect(context.Background(), e.rt.Instance("probe.stuck"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = pc.Check(context.Background(), "")
	if d := time.Since(start); err == nil || !strings.Contains(err.Error(), "no reply in time") || d > 2*time.Second {
		t.Fatalf("Check = %v after %v", err, d)
	}
}

func TestE2EConfigDiagnostics(t *testing.T) {
	dir := pluginDir(t, "recorder")
	e := newEnv(t, dir, nil)
	sum, err := discovery.Plugin{Path: filepath.Join(dir, "argus-plugin-recorder")}.SHA256()
	if err != nil {
		t.Fatal(err)
	}
	src := `audit {
  sink "recorder" "typo" {
    lable = "x"
  }
  sink "recorder" "types" {
    label = ["a"]
    hang  = "sometimes"
  }
  sink "nosuch" "x" {}
  sink "ping" "wrongkind" {}
  sink "recorder" "pinned" {
    host { sha256 = "` + strings.Repeat("0", 64) + `" }
  }
  sink "recorder" "pinned-ok" {
    host { sha256 = "` + sum + `" }
  }
  sink "discard" "pinned-builtin" {
    host { sha256 = "` + sum + `" }
  }
}
`
	diags := e.rt.Validate(context.Background(), e.specs(t, src))
	got := e.render(diags)
	got = strings.ReplaceAll(got, dir, "PLUGIN_DIR")
	got = strings.ReplaceAll(got, sum, "SHA256")
	golden := filepath.Join("testdata", "diagnostics.golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Errorf("diagnostics differ from %s\n--- got\n%s\n--- want\n%s", golden, got, want)
	}
	if n := len(diags.Errs()); n != 7 {
		t.Errorf("%d errors, want 7 (pinned-ok is fine)", n)
	}
}

// TestE2EPluginLogs: plugin log lines appear under the instance's name at
// their level, and sensitive values are redacted from them.
func TestE2EPluginLogs(t *testing.T) {
	t.Setenv("ARGUS_TEST_PLUGIN_SECRET", "hunter2-plugin-secret")
	e := newEnv(t, pluginDir(t, "recorder"), func(o *pluginhost.Options) {})
	if diags := e.rt.Start(context.Background(), e.specs(t, `health {
  probe "recorder" "logs" {
    label  = "shown"
    secret = env("ARGUS_TEST_PLUGIN_SECRET")
  }
}`)); diags.HasErrors() {
		t.Fatal(e.render(diags))
	}
	// Lines arrive asynchronously; key order follows the plugin's JSON.
	var line string
	waitFor(t, 5*time.Second, "the plugin's log line", func() bool {
		for _, l := range strings.Split(e.log.String(), "\n") {
			if strings.Contains(l, "[WARN]  argus.plugin.recorder.logs: configured:") {
				line = l
				return true
			}
		}
		return false
	})
	for _, want := range []string{"label=shown", "secret=[REDACTED]", "instance=logs"} {
		if !strings.Contains(line, want) {
			t.Errorf("plugin line %q lacks %q", line, want)
		}
	}
	log := e.log.String()
	if strings.Contains(log, "hunter2-plugin-secret") {
		t.Errorf("secret leaked into the log")
	}
}

// TestE2EExporterConn: the host's span exporter (exporter.SpanExporter)
// sends spans over the plugin connection, and a request under which the
// plugin's process dies goes to the process that replaces it.
func TestE2EExporterConn(t *testing.T) {
	leakcheck.Check(t)
	inst, exp, span, arrived := recorderExporter(t)
	ctx := context.Background()
	if err := exp.ExportSpans(ctx, span("tools/call echo")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the span to reach the plugin", func() bool { return arrived("tools/call echo") })

	// The plugin stops answering, the export waits on it, the plugin dies.
	pid := inst.Status().PID
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// SIGSTOP takes effect a moment later: until then the plugin may still
	// answer the export below.
	stopT := time.Now()
	for {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		f := strings.Fields(string(b))
		if len(f) > 2 && f[2] == "T" {
			break
		}
		if time.Since(stopT) > time.Second {
			t.Fatalf("not stopped after 1s: %s", b)
		}
		time.Sleep(time.Millisecond)
	}
	done := make(chan error, 1)
	go func() { done <- exp.ExportSpans(ctx, span("after the kill")) }()
	time.Sleep(200 * time.Millisecond)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the export under a dying plugin: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the export under a dying plugin did not end within 30s")
	}
	if st := inst.Status(); st.PID == pid || st.Generation != 2 {
		t.Fatalf("status after the kill: %+v", st)
	}
	waitFor(t, 5*time.Second, "the span to reach the new process", func() bool { return arrived("after the kill") })
	if err := exp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := exp.ExportSpans(ctx, span("after shutdown")); err == nil {
		t.Error("an export after Shutdown succeeded")
	}
}
