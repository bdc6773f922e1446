package sdk_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/argusmcp/argus/sdk"
	"github.com/argusmcp/argus/sdk/sdktest"
	"github.com/argusmcp/argus/shared"
	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// memSink keeps what it is written.
type memSink struct {
	mu      sync.Mutex
	events  []sdk.Event
	cfg     sdk.Config
	lag     uint64 // Acked lags the last written seq by this much until Flush
	flushed bool
}

func (s *memSink) Write(_ context.Context, events []sdk.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, events...)
	return nil
}

func (s *memSink) seqs() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []uint64
	for _, e := range s.events {
		out = append(out, e.Seq)
	}
	return out
}

type lagging struct{ *memSink }

func (s lagging) Acked() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.events) == 0 {
		return 0
	}
	last := s.events[len(s.events)-1].Seq
	if s.flushed {
		return last
	}
	return last - min(s.lag, last)
}

func (s lagging) Flush(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushed = true
	return nil
}

func schema() *sdk.Schema {
	return sdk.NewSchema().
		String("url", "Endpoint.", sdk.Required()).
		String("secret", "Key.", sdk.Sensitive()).
		Duration("timeout", "Per request.", sdk.Default(10*time.Second)).
		Int("retries", "Attempts.", sdk.Default(3)).
		Number("ratio", "A ratio.", sdk.Default(0.5)).
		Bool("verbose", "Chatty.").
		Strings("tags", "Labels.", sdk.Default([]string{"a", "b"})).
		StringMap("headers", "Extra headers.")
}

func validate(cfg sdk.Config) error {
	var errs []error
	if !strings.HasPrefix(cfg.String("url"), "http") {
		errs = append(errs, sdk.Errorf("url", "%q is not an http(s) URL.", cfg.String("url")))
	}
	if cfg.Int("retries") > 10 {
		errs = append(errs, sdk.Errorf("retries", "at most 10."))
	}
	return errors.Join(errs...)
}

// sinkPlugin returns a plugin whose every instance is a new memSink
// (lagging acks when lag > 0), reported to got.
func sinkPlugin(lag uint64, got func(*memSink)) *sdk.Plugin {
	return sdk.New("mem", "0.1.0", sdk.AuditSink(sdk.SinkFactory{
		Schema:   schema(),
		Validate: validate,
		New: func(_ context.Context, cfg sdk.Config) (sdk.Sink, error) {
			s := &memSink{cfg: cfg, lag: lag}
			if got != nil {
				got(s)
			}
			if lag > 0 {
				return lagging{s}, nil
			}
			return s, nil
		},
	}))
}

func TestSinkConformance(t *testing.T) {
	sdktest.SinkConformance(t, sinkPlugin(0, nil), `url = "http://127.0.0.1:1"`)
}

func TestSinkConformanceLaggingAcks(t *testing.T) {
	sdktest.SinkConformance(t, sinkPlugin(2, nil), `url = "http://127.0.0.1:1"`)
}

func TestConfig(t *testing.T) {
	var s *memSink
	sdktest.Start(t, sinkPlugin(0, func(m *memSink) { s = m })).Sink(`
url     = "https://siem.example/in"
verbose = true
headers = { X-Team = "sec" }
`)
	c := s.cfg
	if c.Instance() != "test" || c.String("url") != "https://siem.example/in" || !c.Bool("verbose") ||
		c.Duration("timeout") != 10*time.Second || c.Int("retries") != 3 || c.Float("ratio") != 0.5 ||
		!slices.Equal(c.Strings("tags"), []string{"a", "b"}) || c.StringMap("headers")["X-Team"] != "sec" {
		t.Errorf("config accessors: %+v", c)
	}
	if c.Has("secret") || !c.Has("timeout") {
		t.Errorf("Has(secret) = %v, Has(timeout) = %v", c.Has("secret"), c.Has("timeout"))
	}
	// rest holds a field for every attribute but url.
	type rest struct {
		Secret  *string           `json:"secret"`
		Timeout string            `json:"timeout"`
		Retries int               `json:"retries"`
		Ratio   float64           `json:"ratio"`
		Verbose bool              `json:"verbose"`
		Tags    []string          `json:"tags"`
		Headers map[string]string `json:"headers"`
	}
	var v struct {
		URL string `json:"url"`
		rest
	}
	if err := c.Decode(&v); err != nil || v.URL != "https://siem.example/in" || v.Retries != 3 || v.Timeout != "10s" || v.Secret != nil {
		t.Errorf("Decode = %+v, %v", v, err)
	}
	// A misspelt tag leaves an attribute without a field: an error naming it.
	var typo struct {
		URL string `json:"uri"`
		rest
	}
	if err := c.Decode(&typo); err == nil || !strings.Contains(err.Error(), `"url"`) {
		t.Errorf("Decode into a struct without a url field: %v", err)
	}
}

// configPlugin is a sink whose Validate or New (per phase) calls read.
func configPlugin(phase string, read func(sdk.Config)) *sdk.Plugin {
	return sdk.New("mem", "0.1.0", sdk.AuditSink(sdk.SinkFactory{
		Schema: schema(),
		Validate: func(cfg sdk.Config) error {
			if phase == "Validate" {
				read(cfg)
			}
			return nil
		},
		New: func(_ context.Context, cfg sdk.Config) (sdk.Sink, error) {
			if phase == "New" {
				read(cfg)
			}
			return &memSink{}, nil
		},
	}))
}

func TestConfigAccessorsFailLoudly(t *testing.T) {
	for name, tc := range map[string]struct {
		read func(sdk.Config)
		want []string
	}{
		"unknown name":   {func(c sdk.Config) { c.String("ulr") }, []string{`Config.String("ulr")`, "declares no such attribute", "url"}},
		"Has of unknown": {func(c sdk.Config) { c.Has("nope") }, []string{`Config.Has("nope")`, "declares no such attribute"}},
		"Int on string":  {func(c sdk.Config) { c.Int("url") }, []string{`Config.Int("url")`, "declares it with Schema.String; read it with Config.String"}},
		"Bool on list":   {func(c sdk.Config) { c.Bool("tags") }, []string{`Config.Bool("tags")`, "read it with Config.Strings"}},
		"Int on number":  {func(c sdk.Config) { c.Int("ratio") }, []string{`Config.Int("ratio")`, "declares it with Schema.Number; read it with Config.Float"}},
	} {
		for _, phase := range []string{"Validate", "New"} {
			h := sdktest.Start(t, configPlugin(phase, tc.read))
			out := h.Configure(sdktest.KindAuditSink, `url = "http://x"`, sdktest.ConfigureOptions{})
			for _, want := range append(tc.want, "Plugin bug") {
				if !strings.Contains(out, want) {
					t.Errorf("%s in %s: diagnostics lack %q:\n%s", name, phase, want, out)
				}
			}
		}
	}
	// Reading correctly is quiet, including Float on an integer, String on
	// a duration and absent optional attributes.
	h := sdktest.Start(t, configPlugin("New", func(c sdk.Config) {
		_, _, _, _ = c.Float("retries"), c.String("timeout"), c.String("secret"), c.StringMap("headers")
	}))
	h.MustConfigure(sdktest.KindAuditSink, `url = "http://x"`, sdktest.ConfigureOptions{})
	// The zero Config has no attributes.
	func() {
		defer func() {
			var ce *sdk.ConfigError
			if r := recover(); r == nil || !errors.As(r.(error), &ce) || ce.Attribute != "x" {
				t.Errorf("zero Config: recovered %v, want a *ConfigError about x", r)
			}
		}()
		sdk.Config{}.String("x")
	}()
}

// partSink records whether Close was called on it.
type partSink struct {
	memSink
	closed *atomic.Int32
}

func (s *partSink) Close(context.Context) error { s.closed.Add(1); return nil }

// ioSink is closed the io.Closer way.
type ioSink struct {
	memSink
	closed *atomic.Int32
}

func (s *ioSink) Close() error { s.closed.Add(1); return nil }

func TestFailedNewClosesWhatItReturned(t *testing.T) {
	for name, tc := range map[string]struct {
		build      func(closed *atomic.Int32) sdk.Sink
		wantClosed int32
	}{
		"sdk.Closer": {func(c *atomic.Int32) sdk.Sink { return &partSink{closed: c} }, 1},
		"io.Closer":  {func(c *atomic.Int32) sdk.Sink { return &ioSink{closed: c} }, 1},
		"nil":        {func(*atomic.Int32) sdk.Sink { return nil }, 0},
		"typed nil":  {func(*atomic.Int32) sdk.Sink { return (*partSink)(nil) }, 0},
	} {
		var closed atomic.Int32
		p := sdk.New("part", "1", sdk.AuditSink(sdk.SinkFactory{
			New: func(context.Context, sdk.Config) (sdk.Sink, error) {
				return tc.build(&closed), errors.New("second connection refused")
			},
		}))
		h := sdktest.Start(t, p)
		out := h.Configure(sdktest.KindAuditSink, "", sdktest.ConfigureOptions{})
		if !strings.Contains(out, "second connection refused") {
			t.Errorf("%s: diagnostics %q lack New's error", name, out)
		}
		if got := closed.Load(); got != tc.wantClosed {
			t.Errorf("%s: Close called %d times after New failed, want %d", name, got, tc.wantClosed)
		}
		// The failed instance is gone: the process can still be configured.
		if err := h.Shutdown(); err != nil {
			t.Errorf("%s: Shutdown: %v", name, err)
		}
		if got := closed.Load(); got != tc.wantClosed {
			t.Errorf("%s: Close called %d times after Shutdown, want %d (once, by Configure)", name, got, tc.wantClosed)
		}
	}
}

func TestConfigDiagnostics(t *testing.T) {
	h := sdktest.Start(t, sinkPlugin(0, nil))
	out := h.Configure(sdktest.KindAuditSink, `
url     = "ftp://x"
retries = 11
`, sdktest.ConfigureOptions{DryRun: true})
	for _, want := range []string{
		`Error: Invalid url`, `on plugin.hcl line 2:`, `"ftp://x" is not an http(s) URL.`,
		`Error: Invalid retries`, `on plugin.hcl line 3:`, `at most 10.`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("diagnostics lack %q:\n%s", want, out)
		}
	}
	// Host-side decoding: unknown attribute, missing required, bad types.
	for config, want := range map[string]string{
		`url = "http://x"` + "\nurl2 = 1":         `An argument named "url2" is not expected here`,
		`secret = "x"`:                            `The argument "url" is required`,
		`url = "http://x"` + "\ntimeout = \"1y\"": `"1y" is not a duration`,
		`url = "http://x"` + "\nretries = 1.5":    `1.5 is not a whole number`,
		`url = "http://x"` + "\ntags = \"a\"":     `list of string required`,
	} {
		if out := h.Configure(sdktest.KindAuditSink, config, sdktest.ConfigureOptions{DryRun: true}); !strings.Contains(out, want) {
			t.Errorf("config %q: diagnostics\n%s\nwant %q", config, out, want)
		}
	}
}

func TestSchemaOnTheWire(t *testing.T) {
	sch := sdktest.Start(t, sinkPlugin(0, nil)).Schema(sdktest.KindAuditSink)
	got := map[string]string{}
	for _, a := range sch {
		got[a.Name] = fmt.Sprintf("%s required=%v sensitive=%v default=%s", a.Type, a.Required, a.Sensitive, a.Default)
	}
	want := map[string]string{
		"url":     "String required=true sensitive=false default=",
		"secret":  "String required=false sensitive=true default=",
		"timeout": `Duration required=false sensitive=false default="10s"`,
		"retries": "Int required=false sensitive=false default=3",
		"tags":    `Strings required=false sensitive=false default=["a","b"]`,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s, want %s", k, got[k], v)
		}
	}
}

func TestSchemaMistakesPanic(t *testing.T) {
	newSink := func(context.Context, sdk.Config) (sdk.Sink, error) { return &memSink{}, nil }
	for name, s := range map[string]*sdk.Schema{
		"duplicate":        sdk.NewSchema().String("a", "").String("a", ""),
		"reserved":         sdk.NewSchema().String("host", ""),
		"bad identifier":   sdk.NewSchema().String("a b", ""),
		"default mismatch": sdk.NewSchema().Int("n", "", sdk.Default("x")),
		"bad duration":     sdk.NewSchema().Duration("d", "", sdk.Default("soon")),
		"required default": sdk.NewSchema().String("s", "", sdk.Required(), sdk.Default("x")),
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: New did not panic", name)
				}
			}()
			sdk.New("bad", "1", sdk.AuditSink(sdk.SinkFactory{Schema: s, New: newSink}))
		}()
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("New without a kind did not panic")
			}
		}()
		sdk.New("nothing", "1")
	}()
}

func TestSinkDeduplicatesAndOrders(t *testing.T) {
	ctx := context.Background()
	var s *memSink
	c := sdktest.Start(t, sinkPlugin(0, func(m *memSink) { s = m })).Sink(`url = "http://x"`)
	for _, b := range [][]sdk.Event{sdktest.AuditEvents(1, 5), sdktest.AuditEvents(3, 6), sdktest.AuditEvents(1, 2)} {
		if _, err := c.Write(ctx, b...); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.seqs(); !slices.Equal(got, []uint64{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Errorf("sink saw %v, want 1..8 once each", got)
	}
	bad := append(sdktest.AuditEvents(10, 2), sdktest.AuditEvents(9, 1)...)
	if _, err := c.Write(ctx, bad...); status.Code(err) != codes.InvalidArgument {
		t.Errorf("out-of-order batch: %v, want InvalidArgument", err)
	}
	// A new stream (a new host process) starts over.
	c.Stream = "second"
	if ack, err := c.Write(ctx, sdktest.AuditEvents(1, 2)...); err != nil || ack != 2 {
		t.Errorf("new stream: ack %d, %v", ack, err)
	}
	if got := s.seqs(); len(got) != 10 {
		t.Errorf("sink saw %v after a new stream", got)
	}
}

func TestLaggingAcks(t *testing.T) {
	ctx := context.Background()
	c := sdktest.Start(t, sinkPlugin(3, nil)).Sink(`url = "http://x"`)
	if ack, err := c.Write(ctx, sdktest.AuditEvents(1, 10)...); err != nil || ack != 7 {
		t.Errorf("Write ack = %d, %v; want 7 (Acker)", ack, err)
	}
	if ack, err := c.Close(ctx); err != nil || ack != 10 {
		t.Errorf("Close ack = %d, %v; want 10", ack, err)
	}
	if _, err := c.Write(ctx, sdktest.AuditEvents(11, 1)...); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("Write after Close: %v, want FailedPrecondition", err)
	}
}

func TestUnconfigured(t *testing.T) {
	h := sdktest.Start(t, sinkPlugin(0, nil))
	_, err := pluginv1.NewAuditSinkServiceClient(h.Conn()).Write(context.Background(), &pluginv1.WriteRequest{})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("Write before Configure: %v", err)
	}
	err = h.Conn().Invoke(context.Background(), "/argus.plugin.v1.PluginService/Configure",
		&pluginv1.ConfigureRequest{Kind: shared.KindHealthProbe}, &pluginv1.ConfigureResponse{})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("Configure as a kind the plugin lacks: %v", err)
	}
}

type hostProbe struct{ host sdk.Host }

func (p hostProbe) Check(ctx context.Context, backend string) (sdk.Result, error) {
	b, err := p.host.Describe(ctx, backend)
	if err != nil {
		return sdk.Result{}, err
	}
	tools, err := p.host.ListTools(ctx, backend)
	if err != nil {
		return sdk.Result{}, err
	}
	if err := p.host.Ping(ctx, backend); err != nil {
		return sdk.Result{}, err
	}
	return sdk.Result{Status: sdk.Healthy, Message: fmt.Sprintf("%s %s %d tools", b.Transport, b.ProtocolVersion, len(tools))}, nil
}

func TestProbeHostService(t *testing.T) {
	p := sdk.New("hostprobe", "1", sdk.HealthProbe(sdk.ProbeFactory{
		New: func(_ context.Context, _ sdk.Config, host sdk.Host) (sdk.Probe, error) { return hostProbe{host}, nil },
	}))
	host := &sdktest.FakeHost{}
	host.Set("demo", sdktest.FakeBackend{Info: sdk.Backend{Transport: "stdio", ProtocolVersion: "2025-11-25", Connected: true},
		Tools: []sdk.Tool{{Name: "echo"}, {Name: "add"}}})
	probe := sdktest.Start(t, p).Probe("", host)
	res, err := probe.Check(context.Background(), "demo")
	if err != nil || res.Status != sdk.Healthy || res.Message != "stdio 2025-11-25 2 tools" {
		t.Errorf("Check(demo) = %+v, %v", res, err)
	}
	res, err = probe.Check(context.Background(), "nope")
	if err != nil || res.Status != sdk.Unhealthy || !strings.Contains(res.Message, "unknown backend") {
		t.Errorf("Check(nope) = %+v, %v", res, err)
	}
}

type memExporter struct {
	mu     sync.Mutex
	spans  int
	points int
}

func (e *memExporter) ExportTraces(_ context.Context, req *coltracepb.ExportTraceServiceRequest) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			e.spans += len(ss.GetSpans())
		}
	}
	return nil
}

func (e *memExporter) ExportMetrics(_ context.Context, req *colmetricspb.ExportMetricsServiceRequest) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.points += len(req.GetResourceMetrics())
	return nil
}

func TestExporterConformance(t *testing.T) {
	e := &memExporter{}
	p := sdk.New("mem", "1", sdk.TelemetryExporter(sdk.ExporterFactory{
		New: func(context.Context, sdk.Config) (sdk.Exporter, error) { return e, nil },
	}))
	sdktest.ExporterConformance(t, p, "")
	if e.spans < 3+8 || e.points < 1 {
		t.Errorf("exporter saw %d spans, %d metric batches", e.spans, e.points)
	}
}

// The parent-death test: the test binary plays a host (helperHost) that
// starts the test binary again as a plugin (helperPlugin) the way go-plugin
// would, prints the plugin's pid and waits. SIGKILLing the host must make
// the plugin exit on its own (no Pdeathsig here: only the SDK's watch).
const helperEnv = "SDK_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "plugin":
		sdk.Serve(sinkPlugin(0, nil))
	case "host":
		helperHost()
	default:
		os.Exit(m.Run())
	}
}

func helperHost() {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=plugin",
		shared.Handshake.MagicCookieKey+"="+shared.Handshake.MagicCookieValue,
		"PLUGIN_PROTOCOL_VERSIONS=1", "PLUGIN_MIN_PORT=10000", "PLUGIN_MAX_PORT=25000")
	out, err := cmd.StdoutPipe()
	if err != nil {
		panic(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.Contains(line, "|grpc|") {
		panic(fmt.Sprintf("no handshake: %q %v", line, err))
	}
	fmt.Printf("plugin pid %d\n", cmd.Process.Pid)
	select {}
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	// Field 3 is the state; a zombie has exited.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

func TestPluginExitsWhenHostIsKilled(t *testing.T) {
	host := exec.Command(os.Args[0])
	host.Env = append(os.Environ(), helperEnv+"=host")
	out, err := host.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	defer host.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "plugin pid ")))
	if err != nil {
		t.Fatalf("host said %q", line)
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	if !alive(pid) {
		t.Fatal("plugin not running")
	}
	_ = host.Process.Kill()
	_ = host.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("plugin %d still running 5s after its host was SIGKILLed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
