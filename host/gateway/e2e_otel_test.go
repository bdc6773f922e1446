package gateway_test

// Telemetry end to end against a real OpenTelemetry Collector (built from
// the collector's own modules by internal/otelcoltest). The collector build
// takes minutes the first time, so these run only with ARGUS_E2E_OTEL=1
// (make e2e-otel).

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/internal/otelcoltest"
	"github.com/argusmcp/argus/internal/testbin"
)

func needOtel(t *testing.T) {
	t.Helper()
	if os.Getenv("ARGUS_E2E_OTEL") != "1" {
		t.Skip("needs the test OpenTelemetry Collector: run make e2e-otel (sets ARGUS_E2E_OTEL=1)")
	}
	t.Setenv("OTEL_METRIC_EXPORT_INTERVAL", "500") // ms, read by argus's metric reader
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "200")     // ms, span batches
}

// otelConfig exports to the collector at endpoint with short exporter
// timeouts, so that tests of failures end quickly.
func otelConfig(t *testing.T, endpoint string) string {
	return otelConfigExporter(t, endpoint, "timeout = \"2s\"\n    max_elapsed = \"3s\"")
}

// otelConfigExporter is a demo backend and telemetry exported to the
// collector at endpoint, with settings added to the exporter block.
func otelConfigExporter(t *testing.T, endpoint, settings string) string {
	return mgmtBlock + fmt.Sprintf(`
server {
  shutdown_timeout = "3s"
}
telemetry {
  enabled      = true
  service_name = "argus-e2e"
  exporter "otlp" "collector" {
    endpoint = %q
    insecure = true
    %s
  }
}
`, endpoint, settings) + demoStdio(t, "demo")
}

// traceparentFor makes a distinct client trace context per call.
func traceparentFor(i int) (traceID, tp string) {
	traceID = fmt.Sprintf("%032x", 0xa000+i)
	return traceID, "00-" + traceID + "-" + fmt.Sprintf("%016x", 0xb000+i) + "-01"
}

func TestE2EOtelSpansAndMetrics(t *testing.T) {
	needOtel(t)
	col := otelcoltest.Start(t, otelcoltest.Options{})
	url, _ := startArgus(t, otelConfig(t, col.GRPCEndpoint()))
	s := connect(t, url)
	const n = 100
	received := map[string]string{} // client trace id -> traceparent the backend saw
	for i := range n {
		traceID, tp := traceparentFor(i)
		res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "demo_traceparent", Meta: mcp.Meta{"traceparent": tp}})
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		received[traceID] = text(t, res)
	}
	spans := col.WaitSpans(t, 2*n, 30*time.Second)
	byID := map[string]otelcoltest.Span{}
	for _, sp := range spans {
		byID[sp.SpanID] = sp
	}
	servers := 0
	for _, sp := range spans {
		if sp.Kind != "SERVER" || sp.Name != "mcp.call_tool.demo_traceparent" {
			continue
		}
		servers++
		for k, want := range map[string]any{"mcp.method": "call_tool", "mcp.capability": "demo_traceparent", "mcp.backend": "demo",
			"mcp.method.name": "tools/call", "gen_ai.tool.name": "demo_traceparent", "network.transport": "tcp"} {
			if sp.Attributes[k] != want {
				t.Errorf("server span %s: %s = %v, want %v", sp.SpanID, k, sp.Attributes[k], want)
			}
		}
		if sp.Resource["service.name"] != "argus-e2e" {
			t.Errorf("service.name = %v", sp.Resource["service.name"])
		}
		seen, ok := received[sp.TraceID]
		if !ok {
			t.Errorf("server span in trace %s, not one of the client's", sp.TraceID)
			continue
		}
		// Its CLIENT child, whose context reached the backend in _meta.
		var child *otelcoltest.Span
		for _, c := range spans {
			if c.Kind == "CLIENT" && c.ParentSpanID == sp.SpanID {
				child = &c
				break
			}
		}
		if child == nil || child.Name != "tools/call traceparent" || child.TraceID != sp.TraceID {
			t.Errorf("server span %s: CLIENT child %+v", sp.SpanID, child)
			continue
		}
		if want := "00-" + sp.TraceID + "-" + child.SpanID + "-01"; seen != want {
			t.Errorf("backend received traceparent %q, want %q", seen, want)
		}
	}
	if servers != n {
		t.Errorf("%d SERVER spans, want %d", servers, n)
	}

	var total, okCount float64
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		total, okCount = 0, 0
		ms, _ := col.Metrics()
		for _, m := range ms {
			if m.Name != "argus.requests" {
				continue
			}
			total, okCount = 0, 0 // cumulative: the latest export wins
			for _, dp := range m.DataPoints {
				if dp.Attributes["tool_name"] != "demo_traceparent" || dp.Attributes["backend"] != "demo" {
					continue
				}
				total += dp.Value
				if dp.Attributes["success"] == true {
					okCount += dp.Value
				}
			}
		}
		if total >= n {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if total != n || okCount != n {
		t.Errorf("argus.requests: %v total, %v successful; want %d", total, okCount, n)
	}
	for _, name := range []string{"argus.request.duration", "mcp.server.operation.duration", "mcp.client.operation.duration", "argus.backend.phase", "argus.telemetry.spans.exported", "argus.telemetry.spans.dropped"} {
		if len(col.WaitMetric(t, name, 10*time.Second)) == 0 {
			t.Errorf("metric %s not exported", name)
		}
	}

	// The status says what became of the spans: all taken by the
	// exporter, none dropped or lost.
	var st struct {
		Telemetry []struct {
			Exporter string `json:"exporter"`
			Exported uint64 `json:"spans_exported"`
			Dropped  uint64 `json:"spans_dropped"`
			Lost     uint64 `json:"spans_lost"`
		} `json:"telemetry"`
	}
	if code := mgmt(t, url, "GET", "/status", mgmtToken, &st); code != 200 || len(st.Telemetry) != 1 {
		t.Fatalf("status: %d, telemetry %+v", code, st.Telemetry)
	}
	if e := st.Telemetry[0]; e.Exporter != "exporter.collector" || e.Exported < 2*n || e.Dropped != 0 || e.Lost != 0 {
		t.Errorf("status telemetry %+v: want exporter.collector with at least %d spans exported, none dropped or lost", e, 2*n)
	}
}

// TestE2EOtelExporterKilled: the exporter plugin is SIGKILLed mid-run; no
// request fails, it is restarted, and spans after the restart arrive.
func TestE2EOtelExporterKilled(t *testing.T) {
	needOtel(t)
	col := otelcoltest.Start(t, otelcoltest.Options{})
	url, _ := startArgus(t, otelConfig(t, col.GRPCEndpoint()))
	s := connect(t, url)
	exporterPID := func() int {
		var out struct {
			Plugins []struct {
				ID  string `json:"instance"`
				PID int    `json:"pid"`
			} `json:"plugins"`
		}
		mgmt(t, url, "GET", "/plugins", mgmtToken, &out)
		for _, p := range out.Plugins {
			if p.ID == "exporter.collector" {
				return p.PID
			}
		}
		return 0
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var calls, failures int
	var mu sync.Mutex
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "demo_echo", Arguments: map[string]any{"message": "x"}})
			mu.Lock()
			calls++
			if err != nil {
				failures++
			}
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	})
	waitFor(t, 10*time.Second, "exporter running", func() bool { return exporterPID() > 0 })
	old := exporterPID()
	syscall.Kill(old, syscall.SIGKILL)
	waitFor(t, 15*time.Second, "exporter restarted", func() bool { p := exporterPID(); return p > 0 && p != old })
	restarted := time.Now()
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	if failures > 0 {
		t.Errorf("%d of %d calls failed while the exporter was killed", failures, calls)
	}
	_, tp := traceparentFor(999)
	if _, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "demo_echo", Arguments: map[string]any{"message": "after"}, Meta: mcp.Meta{"traceparent": tp}}); err != nil {
		t.Fatal(err)
	}
	traceID, _ := traceparentFor(999)
	waitFor(t, 20*time.Second, "a span exported after the restart", func() bool {
		spans, _ := col.Spans()
		for _, sp := range spans {
			if sp.TraceID == traceID && int64(sp.EndTimeUnixNano) > restarted.UnixNano() {
				return true
			}
		}
		return false
	})
}

// TestE2EOtelCollectorLate: the collector is down when Argus starts; Argus
// serves throughout and exports once the collector is reachable.
func TestE2EOtelCollectorLate(t *testing.T) {
	needOtel(t)
	port := testbin.FreePort(t)
	url, proc := startArgus(t, otelConfig(t, fmt.Sprintf("127.0.0.1:%d", port)))
	s := connect(t, url)
	for i := range 20 {
		if _, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "demo_echo", Arguments: map[string]any{"message": fmt.Sprint(i)}}); err != nil {
			t.Fatalf("call %d with the collector down: %v", i, err)
		}
	}
	col := otelcoltest.Start(t, otelcoltest.Options{Port: port})
	traceID, tp := traceparentFor(4242)
	waitFor(t, 30*time.Second, "spans once the collector is up", func() bool {
		s.CallTool(context.Background(), &mcp.CallToolParams{Name: "demo_echo", Arguments: map[string]any{"message": "late"}, Meta: mcp.Meta{"traceparent": tp}})
		spans, _ := col.Spans()
		for _, sp := range spans {
			if sp.TraceID == traceID {
				return true
			}
		}
		return false
	})
	if strings.Contains(proc.Stderr.String(), "panic") {
		t.Errorf("argus panicked:\n%s", proc.Stderr.String())
	}
}
