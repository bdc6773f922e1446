package gateway_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/argusmcp/argus/internal/otelcoltest"
)

// envIdleRSS is how long BenchmarkIdleRSS leaves the gateway idle after
// the load before it reads the memory, as a time.ParseDuration string
// (default 1m).
const envIdleRSS = "ARGUS_BENCH_IDLE"

// BenchmarkIdleRSS is what a gateway keeps resident: Argus with three
// plugin processes (jsonl audit sink, otlp exporter to a running
// OpenTelemetry Collector, the ping health probe) and a stdio backend,
// read from /proc (VmRSS) after start-up, right after a load of 16
// concurrent sessions calling echo for 5s, and after ARGUS_BENCH_IDLE
// (default 1m) of idleness. It reports host-rss-MB (the host after the
// idle time; the README's Performance section holds it to 40 MB),
// host-rss-start-MB, host-rss-load-MB and plugins-rss-MB (the plugin
// processes together, after the idle time), and prints them with each
// plugin's share. Like BenchmarkHop it ignores b.N; run with -benchtime 1x:
//
//	go test -run '^$' -bench BenchmarkIdleRSS -benchtime 1x ./host/gateway/
func BenchmarkIdleRSS(b *testing.B) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		b.Skip("needs /proc")
	}
	idle := idleTime(b)
	col := otelcoltest.Start(b, otelcoltest.Options{})
	cfg := fmt.Sprintf(`
log {
  level = "warn"
}

conflict_resolution {
  strategy = "first-wins"
}

audit {
  enabled = true
  file    = %q
}

telemetry {
  enabled = true
  exporter "otlp" "bench" {
    endpoint = %q
    insecure = true
  }
}
`, filepath.Join(b.TempDir(), "audit.jsonl"), col.GRPCEndpoint()) + demoStdio(b, "demo")
	url, proc := startArgus(b, cfg)
	host := proc.Cmd.Process.Pid
	sessions := connectN(b, url, 16, clientProtocolVersion)
	ctx := context.Background()
	if _, _, err := driveEcho(ctx, sessions[:1], nil, 0, hopWarmup); err != nil {
		b.Fatal(err)
	}
	start := rssByRole(host)
	if _, _, err := driveEcho(ctx, sessions, nil, 5*time.Second, 0); err != nil {
		b.Fatal(err)
	}
	load := rssByRole(host)
	time.Sleep(idle) // what is measured is the memory after this long idle
	after := rssByRole(host)
	if n := len(after) - 2; n != 3 { // host and backend besides the plugins
		b.Fatalf("want 3 plugin processes, found %d: %v", n, slices.Sorted(maps.Keys(after)))
	}
	plugins := 0.0
	var parts []string
	for _, role := range slices.Sorted(maps.Keys(after)) {
		parts = append(parts, fmt.Sprintf("%s %.1f", role, after[role]))
		if strings.HasPrefix(role, "plugin ") {
			plugins += after[role]
		}
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(after["host"], "host-rss-MB")
	b.ReportMetric(start["host"], "host-rss-start-MB")
	b.ReportMetric(load["host"], "host-rss-load-MB")
	b.ReportMetric(plugins, "plugins-rss-MB")
	fmt.Printf("\nBenchmarkIdleRSS: host RSS %.1f MB after start-up, %.1f MB after 5s of load at concurrency 16, %.1f MB after %v idle (goal <= 40 MB; %s); after the idle time, MB by process: %s\n",
		start["host"], load["host"], after["host"], idle, rssParts(host), strings.Join(parts, ", "))
}

// idleTime is ARGUS_BENCH_IDLE (envIdleRSS), default 1m.
func idleTime(b *testing.B) time.Duration {
	s := os.Getenv(envIdleRSS)
	if s == "" {
		return time.Minute
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		b.Fatalf("%s=%q: want a duration such as 1m", envIdleRSS, s)
	}
	return d
}

// rssParts is a process's RSS split as /proc/PID/status has it: anonymous
// memory (heap, stacks), file pages (the mapped binary) and shared memory.
func rssParts(pid int) string {
	b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	var parts []string
	for line := range strings.Lines(string(b)) {
		for _, k := range []string{"RssAnon:", "RssFile:", "RssShmem:"} {
			if rest, ok := strings.CutPrefix(line, k); ok {
				parts = append(parts, strings.TrimSuffix(k, ":")+" "+strings.Join(strings.Fields(rest), " "))
			}
		}
	}
	return strings.Join(parts, ", ")
}

// rssByRole is the resident memory in MB (VmRSS) of pid and its
// descendants, summed by procRole.
func rssByRole(pid int) map[string]float64 {
	out := map[string]float64{}
	walkTree([]int{pid}, func(pid int) { out[procRole(pid)] += float64(vmRSS(pid)) / (1 << 20) })
	return out
}

// vmRSS is a process's resident set size in bytes, 0 if unknown.
func vmRSS(pid int) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
