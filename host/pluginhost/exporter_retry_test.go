package pluginhost_test

import (
	"context"
	"github.com/argusmcp/argus/host/pluginhost"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/argusmcp/argus/host/pluginhost/exporter"
	"github.com/argusmcp/argus/shared"
)

// TestE2EExporterAfterDeathBeforeRestart: a span export that starts after
// the exporter plugin's process died, while the runtime is still stopping
// what is left of its process group (pc.Stop: go-plugin's Kill has closed
// the connection, StopGroup waits up to 2 s for the group), is given the
// dead generation by Instance.Conn. gRPC answers Canceled ("the client
// connection is closing"), not Unavailable; the export must still go to
// the process that replaces it (it was dropped before diedUnder took
// Canceled for a death).
func TestE2EExporterAfterDeathBeforeRestart(t *testing.T) {
	inst, exp, span, arrived := recorderExporter(t)
	ctx := context.Background()
	t.Cleanup(func() { exp.Shutdown(ctx) })
	if err := exp.ExportSpans(ctx, span("first")); err != nil {
		t.Fatal(err)
	}

	gen, err := inst.Conn(ctx, shared.KindTelemetryExporter)
	if err != nil {
		t.Fatal(err)
	}
	pid := inst.Status().PID
	// Something the plugin started, still in its process group, that takes
	// SIGTERM's grace to go.
	child := exec.Command("sh", "-c", `trap "" TERM; exec sleep 30`)
	child.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: pid}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-gen.Done()
	time.Sleep(300 * time.Millisecond) // the runtime has noticed; its group is stopping

	ectx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := exp.ExportSpans(ectx, span("after the death")); err != nil {
		t.Fatalf("an export after the plugin died, before its restart: %v", err)
	}
	waitFor(t, 5*time.Second, "the span to reach the new process", func() bool { return arrived("after the death") })
}

// recorderExporter starts the recorder plugin as exporter instance
// "exporter.otel" and returns it, the host's span exporter over it, a
// function that ends a span of the given name and returns it for export,
// and one that tells whether a span of that name reached the plugin.
func recorderExporter(t *testing.T) (*pluginhost.Instance, sdktrace.SpanExporter, func(string) []sdktrace.ReadOnlySpan, func(string) bool) {
	t.Helper()
	e := newEnv(t, pluginDir(t, "recorder"), nil)
	rec := filepath.Join(t.TempDir(), "rec.jsonl")
	if diags := e.rt.Start(context.Background(), e.specs(t, `telemetry {
  exporter "recorder" "otel" { file = "`+rec+`" }
}`)); diags.HasErrors() {
		t.Fatal(e.render(diags))
	}
	inst := e.rt.Instance("exporter.otel")
	rs := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rs))
	span := func(name string) []sdktrace.ReadOnlySpan {
		_, s := tp.Tracer("test").Start(context.Background(), name)
		s.End()
		ended := rs.Ended()
		return ended[len(ended)-1:]
	}
	arrived := func(name string) bool {
		b, _ := os.ReadFile(rec)
		return strings.Contains(string(b), `"span":"`+name+`"`)
	}
	return inst, exporter.SpanExporter(inst), span, arrived
}
