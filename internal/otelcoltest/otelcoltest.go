// Package otelcoltest runs a real OpenTelemetry Collector for end-to-end
// tests and reads back what it received.
//
// The collector is the minimal build in test/otelcol (its own Go module, so
// the collector's dependencies stay out of the main module): an OTLP receiver
// on gRPC and HTTP and a file exporter that writes every batch it receives as
// one OTLP-JSON line. Build compiles it into <repo>/.tools/bin/otelcol-test
// (the same file `make otelcol` produces) unless that is newer than its
// sources; the first build takes a minute or two. Start runs it on loopback
// ports with its data files in the test's temporary directory; Spans,
// Metrics and Logs parse those files.
//
// Typical use:
//
//	col := otelcoltest.Start(t, otelcoltest.Options{})
//	// point the code under test at col.GRPCEndpoint() ...
//	spans := col.WaitSpans(t, 2, 10*time.Second)
//
// The package uses the standard library only.
package otelcoltest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/argusmcp/argus/internal/syncbuf"
	"github.com/argusmcp/argus/internal/testbin"
	"github.com/argusmcp/argus/internal/toolbuild"
)

// BinaryName is the file name of the built collector under <repo>/.tools/bin.
const BinaryName = "otelcol-test"

// Timeouts; variables so a slow machine's test can raise them.
var (
	// StartTimeout bounds how long Start waits for the receivers' ports.
	StartTimeout = 30 * time.Second
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	StopTimeout = 5 * time.Second
	// FlushInterval is the file exporter's flush_interval.
	FlushInterval = 100 * time.Millisecond
)

// Build returns the path of the test collector binary, building it first
// if it is missing or older than its sources (test/otelcol/*.go, go.mod,
// go.sum). It builds at most once per process; concurrent test processes
// serialise on a lock file, so only one of them compiles.
func Build(tb testing.TB) string {
	tb.Helper()
	root, err := RepoRoot()
	if err != nil {
		tb.Fatalf("otelcoltest: %v", err)
	}
	return toolbuild.Build(tb, root, toolbuild.Tool{Name: BinaryName, Dir: filepath.Join("test", "otelcol")})
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// RepoRoot is the main module's root directory: found from this source
// file's path, or, when that is not usable (a -trimpath build), by walking
// up from the working directory to the directory holding test/otelcol/go.mod.
func RepoRoot() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		root := filepath.Join(filepath.Dir(file), "..", "..")
		if fileExists(filepath.Join(root, "test", "otelcol", "go.mod")) {
			return filepath.Clean(root), nil
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if fileExists(filepath.Join(dir, "go.mod")) && fileExists(filepath.Join(dir, "test", "otelcol", "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("otelcoltest: cannot find the repository root (the directory holding test/otelcol/go.mod)")
		}
		dir = parent
	}
}

// Options configure Start. The zero value is ready to use.
type Options struct {
	// Port is the OTLP gRPC receiver's port on 127.0.0.1; 0 picks a free one.
	Port int
	// HTTPPort is the OTLP HTTP receiver's port on 127.0.0.1; 0 picks a free one.
	HTTPPort int
	// Discard makes the collector keep nothing: its exporter is the debug
	// exporter's one-line summaries alone (DiscardConfig), as a collector
	// a benchmark sends to, which should not spend the machine's CPU
	// writing every span as JSON. Spans, Metrics and Logs then fail.
	Discard bool
}

// Collector is a running test collector.
type Collector struct {
	tb          testing.TB
	grpcPort    int
	httpPort    int
	dir         string
	configPath  string
	tracesPath  string
	metricsPath string
	logsPath    string

	cmd    *exec.Cmd
	output *syncbuf.Buffer
	done   chan struct{} // closed when the process has exited
	err    error         // the process's exit status, set before done closes

	discard bool // Options.Discard

	stopOnce sync.Once
	mu       sync.Mutex
	stopped  bool // Stop was called, so an exit is expected
}

// Start builds (if needed) and starts a collector, waits until its OTLP
// receivers accept connections, and registers a cleanup that stops it and,
// if the test failed, logs its output.
func Start(tb testing.TB, opts Options) *Collector {
	tb.Helper()
	bin := Build(tb)

	c := &Collector{
		tb:       tb,
		grpcPort: opts.Port,
		httpPort: opts.HTTPPort,
		dir:      tb.TempDir(), // before Cleanup below: cleanups run last-in first-out
		output:   &syncbuf.Buffer{},
		done:     make(chan struct{}),
		discard:  opts.Discard,
	}
	if c.grpcPort == 0 {
		c.grpcPort = testbin.FreePort(tb)
	}
	if c.httpPort == 0 {
		for c.httpPort == 0 || c.httpPort == c.grpcPort {
			c.httpPort = testbin.FreePort(tb)
		}
	}
	c.configPath = filepath.Join(c.dir, "config.yaml")
	c.tracesPath = filepath.Join(c.dir, "traces.jsonl")
	c.metricsPath = filepath.Join(c.dir, "metrics.jsonl")
	c.logsPath = filepath.Join(c.dir, "logs.jsonl")
	config := Config(c.grpcPort, c.httpPort, c.tracesPath, c.metricsPath, c.logsPath)
	if c.discard {
		config = DiscardConfig(c.grpcPort, c.httpPort)
	}
	if err := os.WriteFile(c.configPath, []byte(config), 0o644); err != nil {
		tb.Fatalf("otelcoltest: %v", err)
	}

	c.cmd = exec.Command(bin, "--config", c.configPath)
	c.cmd.Dir = c.dir
	c.cmd.Stdout = c.output
	c.cmd.Stderr = c.output
	if err := c.cmd.Start(); err != nil {
		tb.Fatalf("otelcoltest: start %s: %v", bin, err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	tb.Cleanup(func() {
		c.mu.Lock()
		unexpected := !c.stopped && !c.Running()
		c.mu.Unlock()
		c.Stop()
		if unexpected && !tb.Failed() {
			tb.Logf("otelcoltest: collector exited before the test stopped it (%s):\n%s", c.exitStatus(), c.output.String())
		}
		if tb.Failed() {
			tb.Logf("otelcoltest: collector output (%s):\n%s", c.exitStatus(), c.output.String())
		}
	})

	if err := c.waitReady(); err != nil {
		c.Stop()
		tb.Fatalf("otelcoltest: collector did not start: %v (its output follows)", err)
	}
	return c
}

// Config is the collector configuration Start writes: OTLP gRPC and HTTP
// receivers on 127.0.0.1, traces, metrics and logs each to their own file
// (one OTLP-JSON batch per line), the debug exporter's one-line summaries in
// the log, and no telemetry server of the collector's own (so parallel
// collectors do not clash on its port).
func Config(grpcPort, httpPort int, tracesPath, metricsPath, logsPath string) string {
	return configWith(grpcPort, httpPort, fmt.Sprintf(`  file/traces:
    path: %s
    flush_interval: %s
  file/metrics:
    path: %s
    flush_interval: %s
  file/logs:
    path: %s
    flush_interval: %s
`, strconv.Quote(tracesPath), FlushInterval,
		strconv.Quote(metricsPath), FlushInterval,
		strconv.Quote(logsPath), FlushInterval), "file/traces, ", "file/metrics, ", "file/logs, ")
}

// DiscardConfig is the configuration of a collector that keeps nothing
// (Options.Discard): the OTLP receivers of Config and the debug exporter
// alone, at its basic verbosity (one line per batch, which the
// collector's logger samples), as the peer benchmark's collector.
func DiscardConfig(grpcPort, httpPort int) string {
	return configWith(grpcPort, httpPort, "", "", "", "")
}

// configWith is a configuration with the OTLP receivers, the exporters
// declared in exporters (YAML under "exporters:") besides debug, and the
// pipelines of traces, metrics and logs each to the exporters listed
// first in its argument (", "-terminated) and then to debug.
func configWith(grpcPort, httpPort int, exporters, traces, metrics, logs string) string {
	return fmt.Sprintf(`receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%d
      http:
        endpoint: 127.0.0.1:%d

exporters:
%s  debug:
    verbosity: basic

service:
  telemetry:
    logs:
      level: info
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [%sdebug]
    metrics:
      receivers: [otlp]
      exporters: [%sdebug]
    logs:
      receivers: [otlp]
      exporters: [%sdebug]
`, grpcPort, httpPort, exporters, traces, metrics, logs)
}

// errDiscards is what reading a collector that keeps nothing returns.
var errDiscards = errors.New("otelcoltest: this collector keeps nothing (Options.Discard)")

// waitReady waits until both receivers accept TCP connections, failing
// early if the process exits (a port in use, a bad configuration).
func (c *Collector) waitReady() error {
	deadline := time.Now().Add(StartTimeout)
	for _, addr := range []string{c.GRPCEndpoint(), c.httpAddr()} {
		for {
			select {
			case <-c.done:
				return fmt.Errorf("collector exited: %s", c.exitStatus())
			default:
			}
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				conn.Close()
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s not accepting connections after %s: %v", addr, StartTimeout, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// GRPCEndpoint is the OTLP gRPC receiver's address, "127.0.0.1:PORT".
func (c *Collector) GRPCEndpoint() string { return "127.0.0.1:" + strconv.Itoa(c.grpcPort) }

// HTTPEndpoint is the OTLP HTTP receiver's base URL, "http://127.0.0.1:PORT"
// (signals are posted to /v1/traces, /v1/metrics, /v1/logs).
func (c *Collector) HTTPEndpoint() string { return "http://" + c.httpAddr() }

func (c *Collector) httpAddr() string { return "127.0.0.1:" + strconv.Itoa(c.httpPort) }

// GRPCPort is the OTLP gRPC receiver's port.
func (c *Collector) GRPCPort() int { return c.grpcPort }

// HTTPPort is the OTLP HTTP receiver's port.
func (c *Collector) HTTPPort() int { return c.httpPort }

// TracesFile is the file the traces pipeline writes.
func (c *Collector) TracesFile() string { return c.tracesPath }

// MetricsFile is the file the metrics pipeline writes.
func (c *Collector) MetricsFile() string { return c.metricsPath }

// LogsFile is the file the logs pipeline writes.
func (c *Collector) LogsFile() string { return c.logsPath }

// ConfigFile is the configuration the collector runs with.
func (c *Collector) ConfigFile() string { return c.configPath }

// Output is what the collector has logged so far (stdout and stderr).
func (c *Collector) Output() string { return c.output.String() }

// Stop shuts the collector down: SIGTERM, which flushes the file exporter,
// then SIGKILL if it has not exited within StopTimeout. The data files stay
// readable afterwards. Stop is safe to call more than once; the cleanup
// Start registers calls it too.
func (c *Collector) Stop() {
	c.stopOnce.Do(func() {
		c.mu.Lock()
		c.stopped = true
		c.mu.Unlock()
		select {
		case <-c.done:
			return
		default:
		}
		if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			c.cmd.Process.Kill()
		}
		select {
		case <-c.done:
		case <-time.After(StopTimeout):
			c.tb.Logf("otelcoltest: collector ignored SIGTERM for %s; killing it", StopTimeout)
			c.cmd.Process.Kill()
			<-c.done
		}
	})
}

// Pid is the collector process's id.
func (c *Collector) Pid() int { return c.cmd.Process.Pid }

// Running reports whether the collector process is still running.
func (c *Collector) Running() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

func (c *Collector) exitStatus() string {
	select {
	case <-c.done:
	default:
		return "running"
	}
	if c.err == nil {
		return "exited 0"
	}
	return c.err.Error()
}

// WaitSpans polls the traces file until it holds at least n spans and
// returns them all; it fails the test after timeout.
func (c *Collector) WaitSpans(tb testing.TB, n int, timeout time.Duration) []Span {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		spans, err := c.Spans()
		if err != nil {
			tb.Fatalf("otelcoltest: %v", err)
		}
		if len(spans) >= n {
			return spans
		}
		if time.Now().After(deadline) {
			tb.Fatalf("otelcoltest: %d spans after %s, want at least %d (collector %s)", len(spans), timeout, n, c.exitStatus())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitMetric polls the metrics file until a metric with the given name is
// there and returns every occurrence of it (one per exported batch); it
// fails the test after timeout.
func (c *Collector) WaitMetric(tb testing.TB, name string, timeout time.Duration) []Metric {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		metrics, err := c.Metrics()
		if err != nil {
			tb.Fatalf("otelcoltest: %v", err)
		}
		var found []Metric
		for _, m := range metrics {
			if m.Name == name {
				found = append(found, m)
			}
		}
		if len(found) > 0 {
			return found
		}
		if time.Now().After(deadline) {
			tb.Fatalf("otelcoltest: no metric %q after %s (collector %s)", name, timeout, c.exitStatus())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Logs parses every log record the collector has written so far.
func (c *Collector) Logs() ([]LogRecord, error) {
	if c.discard {
		return nil, errDiscards
	}
	return ReadLogsFile(c.logsPath)
}

// Spans parses every span the collector has written so far.
func (c *Collector) Spans() ([]Span, error) {
	if c.discard {
		return nil, errDiscards
	}
	return ReadSpansFile(c.tracesPath)
}

// Metrics parses every metric the collector has written so far.
func (c *Collector) Metrics() ([]Metric, error) {
	if c.discard {
		return nil, errDiscards
	}
	return ReadMetricsFile(c.metricsPath)
}
