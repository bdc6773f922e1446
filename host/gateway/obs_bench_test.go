package gateway_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

// discardCollector is an OTLP gRPC receiver that accepts and drops
// everything: the exporter plugin does all its real work (encoding,
// sending), the receiving end costs nothing.
type discardCollector struct {
	coltracepb.UnimplementedTraceServiceServer
}

func (discardCollector) Export(context.Context, *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

type discardMetrics struct {
	colmetricspb.UnimplementedMetricsServiceServer
}

func (discardMetrics) Export(context.Context, *colmetricspb.ExportMetricsServiceRequest) (*colmetricspb.ExportMetricsServiceResponse, error) {
	return &colmetricspb.ExportMetricsServiceResponse{}, nil
}

func startDiscardCollector(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, discardCollector{})
	colmetricspb.RegisterMetricsServiceServer(srv, discardMetrics{})
	go srv.Serve(ln)
	tb.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// BenchmarkObservability measures, side by side in one run, gateway
// throughput (tools/call echo through argus to a stdio demo backend) with
// audit and telemetry off, audit on (the built-in jsonl sink writing real
// files, fsync every second), telemetry on (the built-in otlp exporter to an
// OTLP receiver), and both; it prints the ratios to "off" (targets: audit
// and telemetry each >= 0.9). Like BenchmarkHop it measures once,
// whatever b.N is.
func BenchmarkObservability(b *testing.B) {
	collector := startDiscardCollector(b)
	dir := b.TempDir()
	base := `
log {
  level = "warn"
}
` + demoStdio(b, "demo") + `
conflict_resolution { strategy = "first-wins" }
`
	auditOn := func(name string) string {
		return fmt.Sprintf(`
audit {
  sink "jsonl" "bench" {
    file = %q
  }
}
`, dir+"/"+name+".jsonl")
	}
	auditOff := "\naudit {\n  enabled = false\n}\n"
	telemetryOn := fmt.Sprintf(`
telemetry {
  enabled = true
  exporter "otlp" "bench" {
    endpoint = %q
    insecure = true
  }
}
`, collector)
	targets := []struct {
		label, cfg string
	}{
		{"off", auditOff},
		{"audit", auditOn("audit")},
		{"telemetry", auditOff + telemetryOn},
		{"audit+telemetry", auditOn("both") + telemetryOn},
	}
	const conc = 16
	perCell, rounds := defaultHopDuration, defaultHopRounds
	if s := os.Getenv(envHopDuration); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			b.Fatalf("%s=%q: want a positive duration such as 5s", envHopDuration, s)
		}
		perCell = d
	}
	if s := os.Getenv(envHopRounds); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("%s=%q: want a positive integer", envHopRounds, s)
		}
		rounds = n
	}
	slice := perCell / time.Duration(rounds)
	type cell struct {
		calls   int
		elapsed time.Duration
		lat     []time.Duration
	}
	cells := make([]cell, len(targets))
	sessions := make([][]*mcp.ClientSession, len(targets))
	for i, t := range targets {
		url, _ := startArgus(b, base+t.cfg)
		sessions[i] = connectN(b, url, conc)
	}
	ctx := context.Background()
	for i, t := range targets {
		if _, _, err := driveEcho(ctx, sessions[i], 0, hopWarmupPerSession); err != nil {
			b.Fatalf("%s: warm-up: %v", t.label, err)
		}
	}
	for r := range rounds {
		for k := range targets {
			i := (k + r) % len(targets)
			runtime.GC()
			lat, elapsed, err := driveEcho(ctx, sessions[i], slice, 0)
			if err != nil {
				b.Fatalf("%s round %d: %v", targets[i].label, r+1, err)
			}
			cells[i].calls += len(lat)
			cells[i].elapsed += elapsed
			cells[i].lat = append(cells[i].lat, lat...)
		}
	}
	rate := func(i int) float64 { return float64(cells[i].calls) / cells[i].elapsed.Seconds() }
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nBenchmarkObservability: tools/call echo via argus (stdio backend), concurrency %d, %v per target in %d interleaved rounds\n", conc, perCell, rounds)
	fmt.Fprintf(&sb, "%-17s %9s %9s %9s %7s\n", "argus with", "calls/s", "p50", "p99", "ratio")
	for i, t := range targets {
		c := cells[i]
		slices.Sort(c.lat)
		fmt.Fprintf(&sb, "%-17s %9.0f %9s %9s %7.2f\n", t.label, rate(i), fmtMicros(percentile(c.lat, 0.5)), fmtMicros(percentile(c.lat, 0.99)), rate(i)/rate(0))
		b.Run("target="+t.label, func(b *testing.B) {
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(rate(i), "calls/s")
			b.ReportMetric(rate(i)/rate(0), "ratio-to-off")
		})
	}
	fmt.Fprintf(&sb, "targets: audit/off >= 0.90, telemetry/off >= 0.90\n")
	fmt.Print(sb.String())
}
