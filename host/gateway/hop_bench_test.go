package gateway_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/internal/testbin"
)

// Benchmark knobs (environment variables).
const (
	// envHopDuration is the measured time per (target, concurrency) cell,
	// summed over all rounds, as a time.ParseDuration string ("5s").
	envHopDuration = "ARGUS_BENCH_DURATION"
	// envHopRounds is the number of interleaved rounds per cell.
	envHopRounds = "ARGUS_BENCH_ROUNDS"

	defaultHopDuration = 2 * time.Second
	defaultHopRounds   = 3
	// hopWarmup is the number of sequential calls each target gets before
	// measuring; on top, each of its concurrent sessions makes
	// hopWarmupPerSession calls in parallel.
	hopWarmup           = 200
	hopWarmupPerSession = 20
)

// hopConcurrency lists the measured concurrencies: the number of client
// sessions, each calling sequentially from its own goroutine.
var hopConcurrency = []int{1, 16}

// hopTarget is one endpoint the benchmark drives.
type hopTarget struct {
	key      string // short sub-benchmark name
	label    string // table label
	sessions []*mcp.ClientSession
}

// hopCell accumulates the measurements of one (target, concurrency) cell
// over all rounds.
type hopCell struct {
	latencies []time.Duration // one per call
	elapsed   time.Duration   // wall time of all rounds together
	rates     []float64       // calls/s of each round
}

func (c *hopCell) callsPerSec() float64 {
	if c.elapsed <= 0 {
		return 0
	}
	return float64(len(c.latencies)) / c.elapsed.Seconds()
}

// percentile returns the nearest-rank p-quantile (0 < p <= 1) of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.9999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// BenchmarkHop measures what the Argus hop costs: tools/call `echo`
// throughput and latency, side by side in one run, for
//
//	(a) client -> demo-server (streamable HTTP), directly;
//	(b) client -> Argus /mcp -> demo-server as a stdio backend;
//	(c) client -> Argus /mcp -> demo-server as a streamable-HTTP backend;
//
// each at concurrency 1 and 16 (16 separate client sessions, each calling
// sequentially from its own goroutine).
//
// The measurement does not depend on b.N. The body of BenchmarkHop runs once
// (a benchmark that calls b.Run is not re-run by the framework to scale
// b.N): it starts all processes, warms every target up, then measures every
// cell for ARGUS_BENCH_DURATION (default 2s) in total, split into
// ARGUS_BENCH_ROUNDS (default 3) interleaved rounds. Each round visits every
// (concurrency, target) cell once, rotating the target order between rounds,
// so that drift on a busy machine hits all targets alike; a cell's rounds are
// merged. Only then does it run one sub-benchmark per cell,
// conc=N/target=X, which just reports the cell's figures through
// b.ReportMetric (calls/s, p50-µs, p99-µs; the meaningless ns/op is
// suppressed) plus conc=N/ratios (throughput ratios b/a and c/a), and prints
// a summary table to stdout. The sub-benchmarks ignore b.N too, so the
// iteration count they show is meaningless; run with -benchtime 1x:
//
//	go test -run '^$' -bench BenchmarkHop -benchtime 1x ./host/gateway/
//
// The ratios are reported, not asserted. The benchmark fails if any call
// errors or does not echo its message.
func BenchmarkHop(b *testing.B) {
	perCell := defaultHopDuration
	if s := os.Getenv(envHopDuration); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			b.Fatalf("%s=%q: want a positive duration such as 5s", envHopDuration, s)
		}
		perCell = d
	}
	rounds := defaultHopRounds
	if s := os.Getenv(envHopRounds); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("%s=%q: want a positive integer", envHopRounds, s)
		}
		rounds = n
	}
	slice := perCell / time.Duration(rounds)

	// Processes: a separate demo-server for each target, so no two targets
	// share backend state.
	directURL := startDemoHTTP(b, "hop-direct")
	backendURL := startDemoHTTP(b, "hop-http-backend")
	demoBin := binPath(b, testbin.DemoServer)
	// The hop alone: audit and telemetry, measured by BenchmarkObservability,
	// are off here.
	stdioURL, _ := startArgus(b, fmt.Sprintf(`
log {
  level = "warn"
}

audit {
  enabled = false
}

backend "demo" {
  type    = "stdio"
  command = %q
  args    = ["-name", "hop-stdio-backend"]
}

conflict_resolution {
  strategy = "first-wins"
}
`, demoBin))
	httpURL, _ := startArgus(b, fmt.Sprintf(`
log {
  level = "warn"
}

audit {
  enabled = false
}

backend "demo" {
  type = "streamable-http"
  url  = %q
}

conflict_resolution {
  strategy = "first-wins"
}
`, backendURL))

	maxConc := slices.Max(hopConcurrency)
	targets := []*hopTarget{
		{key: "a-direct-http", label: "a direct streamable-http", sessions: connectN(b, directURL, maxConc)},
		{key: "b-argus-stdio", label: "b argus stdio backend", sessions: connectN(b, stdioURL, maxConc)},
		{key: "c-argus-http", label: "c argus http backend", sessions: connectN(b, httpURL, maxConc)},
	}

	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)

	// Warm up: connections, the gateway's routing state, JIT-free but
	// allocator- and scheduler-warm processes.
	for _, t := range targets {
		if _, _, err := driveEcho(ctx, t.sessions[:1], 0, hopWarmup); err != nil {
			b.Fatalf("%s: warm-up: %v", t.label, err)
		}
		if _, _, err := driveEcho(ctx, t.sessions, 0, hopWarmupPerSession); err != nil {
			b.Fatalf("%s: warm-up: %v", t.label, err)
		}
	}

	cells := make(map[string]*hopCell) // by cellKey
	cellKey := func(t *hopTarget, conc int) string { return fmt.Sprintf("%s/%d", t.key, conc) }
	for r := range rounds {
		for _, conc := range hopConcurrency {
			for i := range targets {
				t := targets[(i+r)%len(targets)]
				runtime.GC() // don't bill one cell's garbage to the next
				lat, elapsed, err := driveEcho(ctx, t.sessions[:conc], slice, 0)
				if err != nil {
					b.Fatalf("%s, concurrency %d, round %d: %v", t.label, conc, r+1, err)
				}
				c := cells[cellKey(t, conc)]
				if c == nil {
					c = &hopCell{}
					cells[cellKey(t, conc)] = c
				}
				c.latencies = append(c.latencies, lat...)
				c.elapsed += elapsed
				c.rates = append(c.rates, float64(len(lat))/elapsed.Seconds())
			}
		}
	}
	for _, c := range cells {
		slices.Sort(c.latencies)
	}

	// Report: one sub-benchmark per cell, then the ratios per concurrency.
	ratio := func(t *hopTarget, conc int) float64 {
		base := cells[cellKey(targets[0], conc)].callsPerSec()
		if base == 0 {
			return 0
		}
		return cells[cellKey(t, conc)].callsPerSec() / base
	}
	for _, conc := range hopConcurrency {
		for _, t := range targets {
			c := cells[cellKey(t, conc)]
			b.Run(fmt.Sprintf("conc=%d/target=%s", conc, t.key), func(b *testing.B) {
				b.ReportMetric(0, "ns/op")
				b.ReportMetric(c.callsPerSec(), "calls/s")
				b.ReportMetric(micros(percentile(c.latencies, 0.50)), "p50-µs")
				b.ReportMetric(micros(percentile(c.latencies, 0.99)), "p99-µs")
			})
		}
		b.Run(fmt.Sprintf("conc=%d/ratios", conc), func(b *testing.B) {
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(ratio(targets[1], conc), "ratio-b/a")
			b.ReportMetric(ratio(targets[2], conc), "ratio-c/a")
		})
	}

	// Summary table.
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nBenchmarkHop: tools/call echo, %v per cell in %d interleaved rounds, GOMAXPROCS=%d, NumCPU=%d\n",
		perCell, rounds, runtime.GOMAXPROCS(0), runtime.NumCPU())
	fmt.Fprintf(&sb, "%-26s %5s %9s %9s %9s   %s\n", "target", "conc", "calls/s", "p50", "p99", "calls/s per round")
	for _, conc := range hopConcurrency {
		for _, t := range targets {
			c := cells[cellKey(t, conc)]
			perRound := make([]string, len(c.rates))
			for i, r := range c.rates {
				perRound[i] = fmt.Sprintf("%.0f", r)
			}
			fmt.Fprintf(&sb, "%-26s %5d %9.0f %9s %9s   %s\n", t.label, conc, c.callsPerSec(),
				fmtMicros(percentile(c.latencies, 0.50)), fmtMicros(percentile(c.latencies, 0.99)),
				strings.Join(perRound, " "))
		}
	}
	fmt.Fprintf(&sb, "ratio b/a conc=1: %.2f   (target >= 0.50)\n", ratio(targets[1], 1))
	fmt.Fprintf(&sb, "ratio c/a conc=1: %.2f   (target >= 0.45)\n", ratio(targets[2], 1))
	fmt.Fprintf(&sb, "ratio b/a conc=16: %.2f   ratio c/a conc=16: %.2f\n", ratio(targets[1], 16), ratio(targets[2], 16))
	fmt.Print(sb.String())
}

// connectN opens n client sessions to url.
func connectN(tb testing.TB, url string, n int) []*mcp.ClientSession {
	tb.Helper()
	sessions := make([]*mcp.ClientSession, n)
	for i := range sessions {
		sessions[i] = connect(tb, url)
	}
	return sessions
}

// driveEcho calls echo from one goroutine per session, each sequentially,
// until d has passed (d > 0) or each session has made calls calls. It
// returns every call's latency and the wall time from the common start
// until the last goroutine finished. The first failing call (error, tool
// error or wrong text) stops all goroutines and is returned.
func driveEcho(ctx context.Context, sessions []*mcp.ClientSession, d time.Duration, calls int) ([]time.Duration, time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		start    = make(chan struct{})
		lats     = make([][]time.Duration, len(sessions))
		errOnce  sync.Once
		firstErr error
		deadline time.Time // set before start is closed
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	for i, s := range sessions {
		wg.Go(func() {
			msg := fmt.Sprintf("hop session %d", i)
			args := map[string]any{"message": msg}
			lat := make([]time.Duration, 0, 1024)
			<-start
			for n := 0; ; n++ {
				done := n >= calls
				if d > 0 {
					done = !time.Now().Before(deadline)
				}
				if done || ctx.Err() != nil {
					break
				}
				t0 := time.Now()
				res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: args})
				lat = append(lat, time.Since(t0))
				if err != nil {
					// After another session's failure this is just the
					// cancellation; fail keeps the first error only.
					fail(fmt.Errorf("session %d, call %d: %w", i, n+1, err))
					break
				}
				if err := checkEcho(res, msg); err != nil {
					fail(fmt.Errorf("session %d, call %d: %w", i, n+1, err))
					break
				}
			}
			lats[i] = lat
		})
	}
	t0 := time.Now()
	deadline = t0.Add(d)
	close(start)
	wg.Wait()
	elapsed := time.Since(t0)
	if firstErr != nil {
		return nil, 0, firstErr
	}
	return slices.Concat(lats...), elapsed, nil
}

// checkEcho verifies that res is echo's answer to msg: one text block
// holding msg exactly.
func checkEcho(res *mcp.CallToolResult, msg string) error {
	if res.IsError {
		return fmt.Errorf("echo returned a tool error: %s", contentText(res.Content))
	}
	if len(res.Content) != 1 {
		return fmt.Errorf("echo returned %d content blocks, want 1: %s", len(res.Content), contentText(res.Content))
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		return fmt.Errorf("echo returned %T, want text", res.Content[0])
	}
	if tc.Text != msg {
		return fmt.Errorf("echo returned %q, want %q", tc.Text, msg)
	}
	return nil
}

// contentText renders content blocks for error messages.
func contentText(content []mcp.Content) string {
	parts := make([]string, len(content))
	for i, c := range content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts[i] = strconv.Quote(tc.Text)
		} else {
			parts[i] = fmt.Sprintf("%T", c)
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func fmtMicros(d time.Duration) string { return fmt.Sprintf("%.0fµs", micros(d)) }
