package gateway_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/manage"
	"github.com/argusmcp/argus/internal/otelcoltest"
	"github.com/argusmcp/argus/internal/testbin"
)

// Benchmark knobs (environment variables).
const (
	// envHopDuration is the measured time per (target, concurrency) cell,
	// summed over all rounds, as a time.ParseDuration string ("5s").
	envHopDuration = "ARGUS_BENCH_DURATION"
	// envHopRounds is the number of interleaved rounds per cell.
	envHopRounds = "ARGUS_BENCH_ROUNDS"
	// envHopTargets, if set, limits the targets to this comma-separated
	// list of keys (direct, floor and bare, the bases of the ratios, always run):
	// "audit,telemetry" measures the on/off ratios alone.
	envHopTargets = "ARGUS_BENCH_TARGETS"
	// envHopBaseline, if set, is another argus binary (say, a build of the
	// previous commit) measured side by side as more targets,
	// bare-baseline and full-baseline (and http-full-baseline beside
	// http-full): a change's effect in one run.
	envHopBaseline = "ARGUS_BENCH_BASELINE"
	// envHopConc, if set, replaces the measured concurrencies with this
	// comma-separated list ("1" profiles the serial path alone).
	envHopConc = "ARGUS_BENCH_CONC"
	// envHopProtocol, if set, is the MCP revision every target's client
	// sessions ask for (direct's too), in place of clientProtocolVersion
	// (2025-11-25, as the peer harness's client): "2026-07-28" measures the
	// stateless revision, whose requests carry no session.
	envHopProtocol = "ARGUS_BENCH_PROTOCOL"

	defaultHopDuration = 3 * time.Second
	defaultHopRounds   = 3
	// hopWarmup is the number of sequential calls each target gets before
	// measuring; on top, each of its concurrent sessions makes
	// hopWarmupPerSession calls in parallel.
	hopWarmup           = 200
	hopWarmupPerSession = 20
)

// hopTraceparent is the trace context the traced target's client sends: a
// sampled W3C traceparent, as a traced client's SDK would.
const hopTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// hopConcurrency lists the measured concurrencies: the number of client
// sessions, each calling sequentially from its own goroutine.
var hopConcurrency = []int{1, 16}

// hopTarget is one endpoint the benchmark drives.
type hopTarget struct {
	key      string // short sub-benchmark name
	label    string // table label
	url      string // its MCP endpoint
	sessions []*mcp.ClientSession
	meta     mcp.Meta // sent in every call's params._meta
	pids     []int    // the system under test: these processes and their descendants
}

// hopCell accumulates the measurements of one (target, concurrency) cell
// over all rounds.
type hopCell struct {
	latencies []time.Duration          // one per call
	rates     []float64                // calls/s of each round
	cpu       time.Duration            // CPU time the target's processes used, all rounds
	cpuByRole map[string]time.Duration // cpu by process role (procRole)
	cpuOK     bool                     // cpu could be measured (/proc)
}

// cpuPerCall is the CPU time the system under test spent per call: on a
// shared machine a steadier figure than calls/s, which other load moves.
func (c *hopCell) cpuPerCall() time.Duration {
	if !c.cpuOK || len(c.latencies) == 0 {
		return 0
	}
	return c.cpu / time.Duration(len(c.latencies))
}

// callsPerSec is the median of the rounds' rates.
func (c *hopCell) callsPerSec() float64 {
	if len(c.rates) == 0 {
		return 0
	}
	r := slices.Sorted(slices.Values(c.rates))
	if len(r)%2 == 1 {
		return r[len(r)/2]
	}
	return (r[len(r)/2-1] + r[len(r)/2]) / 2
}

// percentile returns the nearest-rank p-quantile (0 < p <= 1) of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.9999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// BenchmarkHop is the side-by-side table of what Argus costs per call:
// tools/call `echo` throughput and latency, measured in one run, for
//
//	direct     client -> demo-server (go-sdk streamable HTTP), directly;
//	floor      client -> floorproxy -> demo-server over stdio: the least a
//	           proxy does (internal/floorproxy: net/http in front, ids
//	           matched, no MCP semantics), what the hop alone costs here;
//	bare       client -> Argus -> demo-server over stdio, audit and telemetry off;
//	full       the same with audit (jsonl file) and telemetry (otlp exporter
//	           to a running OpenTelemetry Collector, internal/otelcoltest) on;
//	http-full  full, but the backend is a demo-server over streamable HTTP;
//	floor-http the floor, with a demo-server over streamable HTTP as its
//	           backend: what the hop costs with an HTTP backend;
//	audit      bare plus audit only;
//	telemetry  bare plus telemetry only;
//	traced     bare, with the client sending a W3C trace context in
//	           params._meta (SEP-414), which Argus passes on: what carrying
//	           a trace context to the backend costs with no telemetry at
//	           all, the floor of the telemetry on/off ratio (telemetry
//	           sends its CLIENT span's context to the backend the same way);
//	telemetry-local  telemetry only, its backend configured with
//	           trace_propagation = "none": telemetry's cost in Argus and its
//	           exporter alone, the backend sent no trace context to decode;
//
// each at concurrency 1 and 16 (separate client sessions, each calling
// sequentially from its own goroutine).
//
// The measurement does not depend on b.N. The body of BenchmarkHop runs once
// (a benchmark that calls b.Run is not re-run by the framework to scale
// b.N): it starts all processes, warms every target up, then measures every
// cell for ARGUS_BENCH_DURATION (default 3s) in total, split into
// ARGUS_BENCH_ROUNDS (default 3) interleaved rounds. Each round visits every
// (concurrency, target) cell once, rotating the target order between rounds,
// so that drift on a busy machine hits all targets alike. A cell's calls/s is
// the median of its rounds; p50 and p99 are over all its calls; CPU µs/call
// is the CPU time (from /proc, Linux only) the target's processes used per
// call: the server for direct, Argus with its backend and plugin processes
// (and the HTTP backend) for the others. On a machine shared with other
// load, CPU per call moves far less than calls/s. Then it runs
// one sub-benchmark per cell, conc=N/target=X, which just reports the cell's
// figures through b.ReportMetric (calls/s, x-direct, p50-µs, p99-µs; the
// meaningless ns/op is suppressed) plus conc=N/on-off (audit on/off =
// audit/bare, telemetry on/off = telemetry/bare, all on/off = full/bare,
// each also as a CPU ratio: off's CPU per call over on's), and prints the
// table to stdout, with the CPU per call split by process (host, backend,
// each plugin). ARGUS_BENCH_TARGETS (comma-separated keys) measures a
// subset; direct, floor and bare always run. The sub-benchmarks ignore b.N too;
// run with -benchtime 1x:
//
//	go test -run '^$' -bench BenchmarkHop -benchtime 1x ./host/gateway/
//
// The goals of the README's Performance section are printed next to the
// ratios, not asserted: on a shared machine a ratio moves by ±10% between
// runs. The benchmark fails if any call errors or does not echo its message.
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
	if s := os.Getenv(envHopConc); s != "" {
		hopConcurrency = nil
		for f := range strings.SplitSeq(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				b.Fatalf("%s=%q: want a comma-separated list of positive integers such as 1,16", envHopConc, s)
			}
			hopConcurrency = append(hopConcurrency, n)
		}
	}

	// Processes: a separate demo-server for each target, so no two targets
	// share backend state.
	// The collector keeps nothing, as the peer harness's: writing every
	// span as JSON cost it 4-9 µs of the machine's CPU per call more.
	col := otelcoltest.Start(b, otelcoltest.Options{Discard: true})
	directURL, directProc := startDemoHTTPProc(b, "hop-direct")
	backendURL, backendProc := startDemoHTTPProc(b, "hop-http-backend")
	dir := b.TempDir()
	auditOn := func(name string) string {
		return fmt.Sprintf("\naudit {\n  enabled = true\n  file    = %q\n}\n", filepath.Join(dir, name, "audit.jsonl"))
	}
	const auditOff = "\naudit {\n  enabled = false\n}\n"
	telemetryOn := fmt.Sprintf(`
telemetry {
  enabled = true
  exporter "otlp" "bench" {
    endpoint = %q
    insecure = true
  }
}
`, col.GRPCEndpoint())
	// The management API (its token) is for the spans' counts, read
	// after the measurement.
	const common = "\nlog {\n  level = \"warn\"\n}\n\nconflict_resolution {\n  strategy = \"first-wins\"\n}\n" + mgmtBlock
	stdio := func(obs string) string { return common + demoStdio(b, "demo") + obs }
	httpBackendAt := func(url string) string {
		return fmt.Sprintf("\nbackend \"demo\" {\n  type = \"streamable-http\"\n  url  = %q\n}\n", url)
	}
	httpBackend := httpBackendAt(backendURL)
	type sut struct {
		url  string
		pids []int
	}
	baseline := os.Getenv(envHopBaseline)
	argusBin := func(bin, cfg string, more ...*Proc) sut {
		url, proc := startArgusBin(b, bin, cfg)
		pids := []int{proc.Cmd.Process.Pid}
		for _, p := range more {
			pids = append(pids, p.Cmd.Process.Pid)
		}
		return sut{url, pids}
	}
	argus := func(cfg string, more ...*Proc) sut { return argusBin(binPath(b, testbin.Argus), cfg, more...) }
	floor := func(args ...string) sut {
		p := startProc(b, "floorproxy", binPath(b, testbin.FloorProxy), args...)
		m, err := p.WaitStderr(demoListening, startTimeout)
		if err != nil {
			b.Fatalf("floorproxy: %v\n%s", err, p.Stderr.String())
		}
		return sut{m[1], []int{p.Cmd.Process.Pid}}
	}

	maxConc := slices.Max(hopConcurrency)
	all := []struct {
		key, label string
		start      func() sut
	}{
		{"direct", "direct (go-sdk streamable HTTP server)", func() sut { return sut{directURL, []int{directProc.Cmd.Process.Pid}} }},
		{"floor", "floor: the least a proxy does (stdio backend)", func() sut {
			return floor("--", binPath(b, testbin.DemoServer), "-name", "floor")
		}},
		{"bare", "argus bare: stdio backend, audit+telemetry off", func() sut { return argus(stdio(auditOff)) }},
		{"full", "argus full: stdio backend, audit+telemetry on", func() sut { return argus(stdio(auditOn("full") + telemetryOn)) }},
		{"http-full", "argus full: streamable-HTTP backend", func() sut { return argus(common+httpBackend+auditOn("http")+telemetryOn, backendProc) }},
		{"floor-http", "floor: the least a proxy does (streamable-HTTP backend)", func() sut {
			url, proc := startDemoHTTPProc(b, "hop-floor-http-backend")
			s := floor("-url", url)
			s.pids = append(s.pids, proc.Cmd.Process.Pid)
			return s
		}},
		{"audit", "argus audit only (stdio)", func() sut { return argus(stdio(auditOn("audit"))) }},
		{"telemetry", "argus telemetry only (stdio)", func() sut { return argus(stdio(auditOff + telemetryOn)) }},
		{"traced", "argus bare, the client sends a trace context in _meta (stdio)", func() sut { return argus(stdio(auditOff)) }},
		{"telemetry-local", "argus telemetry only, trace_propagation = \"none\" (stdio)", func() sut {
			return argus(common + strings.Replace(demoStdio(b, "demo"), "\n}\n", "\n  trace_propagation = \"none\"\n}\n", 1) + auditOff + telemetryOn)
		}},
	}
	if baseline != "" {
		all = append(all, []struct {
			key, label string
			start      func() sut
		}{
			{"bare-baseline", "baseline bare (" + envHopBaseline + ")", func() sut { return argusBin(baseline, stdio(auditOff)) }},
			{"full-baseline", "baseline full (" + envHopBaseline + ")", func() sut { return argusBin(baseline, stdio(auditOn("full-baseline")+telemetryOn)) }},
			{"http-full-baseline", "baseline full, streamable-HTTP backend (" + envHopBaseline + ")", func() sut {
				url, proc := startDemoHTTPProc(b, "hop-http-baseline-backend")
				return argusBin(baseline, common+httpBackendAt(url)+auditOn("http-baseline")+telemetryOn, proc)
			}},
		}...)
	}
	want := map[string]bool{"direct": true, "floor": true, "bare": true, "bare-baseline": true, "full-baseline": true}
	for k := range strings.SplitSeq(os.Getenv(envHopTargets), ",") {
		want[strings.TrimSpace(k)] = true
	}
	want["http-full-baseline"] = want["http-full"] // only beside what it is the baseline of
	type started struct {
		key, label string
		sut
	}
	var spec []started
	for _, s := range all {
		if os.Getenv(envHopTargets) == "" || want[s.key] {
			spec = append(spec, started{s.key, s.label, s.start()})
		}
	}
	var targets []*hopTarget
	for _, s := range spec {
		t := &hopTarget{key: s.key, label: s.label, url: s.url, sessions: connectN(b, s.url, maxConc, hopProtocol()), pids: s.pids}
		if s.key == "traced" {
			t.meta = mcp.Meta{"traceparent": hopTraceparent}
		}
		targets = append(targets, t)
	}
	byKey := func(key string) *hopTarget {
		for _, t := range targets {
			if t.key == key {
				return t
			}
		}
		return nil // not measured (ARGUS_BENCH_TARGETS)
	}

	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)

	// Warm up: connections, the gateway's routing state, JIT-free but
	// allocator- and scheduler-warm processes.
	for _, t := range targets {
		if _, _, err := driveEcho(ctx, t.sessions[:1], t.meta, 0, hopWarmup); err != nil {
			b.Fatalf("%s: warm-up: %v", t.label, err)
		}
		if _, _, err := driveEcho(ctx, t.sessions, t.meta, 0, hopWarmupPerSession); err != nil {
			b.Fatalf("%s: warm-up: %v", t.label, err)
		}
	}

	colCPU0 := procCPU(col.Pid())
	watch := startPauseWatch(10*time.Millisecond, 250*time.Millisecond)
	var stalls []hopStall
	cells := make(map[string]*hopCell) // by cellKey
	cellKey := func(t *hopTarget, conc int) string { return fmt.Sprintf("%s/%d", t.key, conc) }
	for r := range rounds {
		for _, conc := range hopConcurrency {
			for i := range targets {
				t := targets[(i+r)%len(targets)]
				runtime.GC() // don't bill one cell's garbage to the next
				cpu0, cpuOK := treeCPUByRole(t.pids...)
				began := time.Now()
				lat, elapsed, err := driveEcho(ctx, t.sessions[:conc], t.meta, slice, 0)
				cpu1, _ := treeCPUByRole(t.pids...)
				if err != nil {
					b.Fatalf("%s, concurrency %d, round %d: %v", t.label, conc, r+1, err)
				}
				if len(lat) > 0 {
					if slowest := slices.Max(lat); slowest > hopStallOver {
						stalls = append(stalls, hopStall{target: t.key, conc: conc, round: r + 1, slowest: slowest, paused: watch.during(began, time.Now())})
					}
				}
				c := cells[cellKey(t, conc)]
				if c == nil {
					c = &hopCell{}
					cells[cellKey(t, conc)] = c
				}
				c.latencies = append(c.latencies, lat...)
				c.rates = append(c.rates, float64(len(lat))/elapsed.Seconds())
				if c.cpuByRole == nil {
					c.cpuByRole = map[string]time.Duration{}
				}
				for role, d := range cpu1 {
					c.cpu += d - cpu0[role]
					c.cpuByRole[role] += d - cpu0[role]
				}
				c.cpuOK = cpuOK
			}
		}
	}
	watch.Stop()
	colCPU := procCPU(col.Pid()) - colCPU0
	for _, c := range cells {
		slices.Sort(c.latencies)
	}

	// cell is the cell of target key at conc; nil if key was not measured.
	cell := func(key string, conc int) *hopCell {
		t := byKey(key)
		if t == nil {
			return nil
		}
		return cells[cellKey(t, conc)]
	}
	// ratio is a's median calls/s over b's at conc.
	ratio := func(a, b string, conc int) float64 {
		ca, cb := cell(a, conc), cell(b, conc)
		if ca == nil || cb == nil || cb.callsPerSec() == 0 {
			return 0
		}
		return ca.callsPerSec() / cb.callsPerSec()
	}
	// cpuRatio is b's CPU per call over a's at conc: what ratio would be
	// if both were CPU-bound on the same cores, a figure that other load
	// on the machine moves much less.
	cpuRatio := func(a, b string, conc int) float64 {
		ca, cb := cell(a, conc), cell(b, conc)
		if ca == nil || cb == nil || ca.cpuPerCall() == 0 {
			return 0
		}
		return float64(cb.cpuPerCall()) / float64(ca.cpuPerCall())
	}
	cpuAdded := func(a, b string, conc int) float64 {
		ca, cb := cell(a, conc), cell(b, conc)
		if ca == nil || cb == nil {
			return 0
		}
		return micros(ca.cpuPerCall() - cb.cpuPerCall())
	}
	var onOff []struct{ label, on, off string }
	for _, o := range []struct{ label, on, off string }{
		{"audit on/off", "audit", "bare"},
		{"telemetry on/off", "telemetry", "bare"},
		{"traced/bare", "traced", "bare"},
		{"telemetry-local on/off", "telemetry-local", "bare"},
		{"all on/off", "full", "bare"},
		{"bare/floor", "bare", "floor"},
		{"full/floor", "full", "floor"},
		{"http-full/floor-http", "http-full", "floor-http"},
		{"bare this/baseline", "bare", "bare-baseline"},
		{"full this/baseline", "full", "full-baseline"},
		{"http-full this/baseline", "http-full", "http-full-baseline"},
	} {
		if byKey(o.on) != nil && byKey(o.off) != nil {
			onOff = append(onOff, o)
		}
	}

	// Report: one sub-benchmark per cell, then the on/off ratios.
	for _, conc := range hopConcurrency {
		for _, t := range targets {
			c := cells[cellKey(t, conc)]
			b.Run(fmt.Sprintf("conc=%d/target=%s", conc, t.key), func(b *testing.B) {
				b.ReportMetric(0, "ns/op")
				b.ReportMetric(c.callsPerSec(), "calls/s")
				b.ReportMetric(ratio(t.key, "direct", conc), "x-direct")
				b.ReportMetric(micros(percentile(c.latencies, 0.50)), "p50-µs")
				b.ReportMetric(micros(percentile(c.latencies, 0.99)), "p99-µs")
				if c.cpuOK {
					b.ReportMetric(micros(c.cpuPerCall()), "cpu-µs/call")
				}
			})
		}
		b.Run(fmt.Sprintf("conc=%d/on-off", conc), func(b *testing.B) {
			b.ReportMetric(0, "ns/op")
			for _, o := range onOff {
				b.ReportMetric(ratio(o.on, o.off, conc), strings.ReplaceAll(o.label, " ", "-"))
				b.ReportMetric(cpuRatio(o.on, o.off, conc), strings.ReplaceAll(o.label, " ", "-")+"-cpu")
			}
		})
	}

	// The table.
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nBenchmarkHop: tools/call echo, %v per cell in %d interleaved rounds (calls/s: median of rounds), clients of revision %s, client GOMAXPROCS=%d (argus and the floor fit theirs to their load), NumCPU=%d\n\n",
		perCell, rounds, hopProtocol(), runtime.GOMAXPROCS(0), runtime.NumCPU())
	fmt.Fprintf(&sb, "| target | conc | calls/s | rounds min..max | x direct | p50 µs | p99 µs | max µs | p50 +µs vs direct | CPU µs/call |\n")
	fmt.Fprintf(&sb, "|---|---|---|---|---|---|---|---|---|---|\n")
	for _, conc := range hopConcurrency {
		direct := percentile(cells[cellKey(targets[0], conc)].latencies, 0.50)
		for _, t := range targets {
			c := cells[cellKey(t, conc)]
			p50 := percentile(c.latencies, 0.50)
			fmt.Fprintf(&sb, "| %s | %d | %.0f | %.0f..%.0f | %.2f | %.0f | %.0f | %.0f | %+.0f | %.0f |\n", t.label, conc, c.callsPerSec(),
				slices.Min(c.rates), slices.Max(c.rates), ratio(t.key, "direct", conc),
				micros(p50), micros(percentile(c.latencies, 0.99)), micros(percentile(c.latencies, 1)), micros(p50-direct), micros(c.cpuPerCall()))
		}
	}
	fmt.Fprintf(&sb, "\nCPU µs/call by process:\n\n| target | conc | by process |\n|---|---|---|\n")
	for _, conc := range hopConcurrency {
		for _, t := range targets {
			c := cells[cellKey(t, conc)]
			var parts []string
			for _, role := range slices.Sorted(maps.Keys(c.cpuByRole)) {
				parts = append(parts, fmt.Sprintf("%s %.0f", role, micros(c.cpuByRole[role]/time.Duration(max(1, len(c.latencies))))))
			}
			fmt.Fprintf(&sb, "| %s | %d | %s |\n", t.key, conc, strings.Join(parts, ", "))
		}
	}
	fmt.Fprintf(&sb, "\n| on/off | calls/s ratio, conc 1 | conc 16 | CPU ratio (off/on µs per call), conc 1 | conc 16 | CPU µs/call added, conc 1 | conc 16 |\n|---|---|---|---|---|---|---|\n")
	for _, o := range onOff {
		fmt.Fprintf(&sb, "| %s | %.2f | %.2f | %.2f | %.2f | %+.0f | %+.0f |\n", o.label, ratio(o.on, o.off, 1), ratio(o.on, o.off, 16),
			cpuRatio(o.on, o.off, 1), cpuRatio(o.on, o.off, 16), cpuAdded(o.on, o.off, 1), cpuAdded(o.on, o.off, 16))
	}
	p50Added := func(key string, conc int) (float64, bool) {
		c, d := cell(key, conc), cell("direct", conc)
		if c == nil || d == nil || len(c.latencies) == 0 || len(d.latencies) == 0 {
			return 0, false
		}
		return micros(percentile(c.latencies, 0.50) - percentile(d.latencies, 0.50)), true
	}
	fmt.Fprintf(&sb, "\nGoals (README, Performance), this run; \"beyond the floor\": the floor, which does the least any proxy does, missed it too (telemetry's floor: traced, a client's trace context passed on to the backend):\n\n%s",
		goalTable(hopGoals(hopConcurrency, ratio, p50Added)))
	pauses, paused := watch.count()
	fmt.Fprintf(&sb, "\n%s", stallTable(stalls, pauses, paused))
	// The collector is one for all traced targets, so its CPU is
	// reported per traced call over the run, not per cell.
	tracedCalls := 0
	for _, t := range targets {
		if tracedTargets[strings.TrimSuffix(t.key, "-baseline")] {
			for _, conc := range hopConcurrency {
				tracedCalls += len(cells[cellKey(t, conc)].latencies)
			}
		}
	}
	if tracedCalls > 0 && colCPU > 0 {
		fmt.Fprintf(&sb, "\nThe collector (shared by the traced targets, keeping nothing) used %.0f µs of CPU per traced call over the run (%v for %d calls); not in the tables above.\n",
			micros(colCPU/time.Duration(tracedCalls)), colCPU, tracedCalls)
	}
	fmt.Fprintf(&sb, "%s", spansTable(b, targets))
	fmt.Print(sb.String())
}

// tracedTargets are the targets whose spans go to the collector, and
// whose spans' counts the benchmark reads (baselines, which may be builds
// without them, are not read).
var tracedTargets = map[string]bool{"full": true, "http-full": true, "telemetry": true, "telemetry-local": true}

// spansTable reads from each traced target's status what became of its
// spans and prints it; it fails the benchmark if a target exported none,
// whose figures would then be those of telemetry that does not work.
func spansTable(b *testing.B, targets []*hopTarget) string {
	var sb strings.Builder
	for _, t := range targets {
		key, url := t.key, t.url
		if !tracedTargets[key] {
			continue
		}
		st, err := manage.GetStatus(strings.TrimSuffix(url, "/mcp")+manage.Prefix, mgmtToken)
		if err != nil {
			b.Fatalf("%s: status: %v", key, err)
		}
		if len(st.Telemetry) == 0 || st.Telemetry[0].Exported == 0 {
			b.Fatalf("%s: no spans exported (%+v): its figures are not those of telemetry at work", key, st.Telemetry)
		}
		for _, e := range st.Telemetry {
			fmt.Fprintf(&sb, "| %s | %s | %d | %d | %d |\n", key, e.Exporter, e.Exported, e.Dropped, e.Lost)
		}
	}
	if sb.Len() == 0 {
		return ""
	}
	return "\nSpans, over the whole run:\n\n| target | exporter | exported | dropped (queue full) | lost (export failed) |\n|---|---|---|---|---|\n" + sb.String()
}

// connectN opens n client sessions to url, asking for revision version.
func connectN(tb testing.TB, url string, n int, version string) []*mcp.ClientSession {
	tb.Helper()
	sessions := make([]*mcp.ClientSession, n)
	for i := range sessions {
		sessions[i] = connectVersion(tb, url, version)
	}
	return sessions
}

// hopProtocol is the revision BenchmarkHop's clients ask for.
func hopProtocol() string {
	if v := os.Getenv(envHopProtocol); v != "" {
		return v
	}
	return clientProtocolVersion
}

// driveEcho calls echo from one goroutine per session, each sequentially,
// with meta (if any) as the params' _meta,
// until d has passed (d > 0) or each session has made calls calls. It
// returns every call's latency and the wall time from the common start
// until the last goroutine finished. The first failing call (error, tool
// error or wrong text) stops all goroutines and is returned.
func driveEcho(ctx context.Context, sessions []*mcp.ClientSession, meta mcp.Meta, d time.Duration, calls int) ([]time.Duration, time.Duration, error) {
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
				res, err := s.CallTool(ctx, &mcp.CallToolParams{Meta: meta, Name: "echo", Arguments: args})
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
