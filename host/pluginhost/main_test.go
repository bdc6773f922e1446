package pluginhost_test

// The test binary doubles as every plugin these tests run, the way
// go-plugin's own tests re-execute themselves: a symlink named
// argus-plugin-<mode> to the test binary makes it serve <mode> (see
// servePlugin), and `<test binary> internal-plugin <name>` serves a
// built-in, exactly as the argus binary does.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/protobuf/proto"

	"github.com/argusmcp/argus/host/config/configload"
	"github.com/argusmcp/argus/host/pluginhost"
	"github.com/argusmcp/argus/host/pluginhost/discovery"
	"github.com/argusmcp/argus/internal/testbin"
	"github.com/argusmcp/argus/plugins"
	"github.com/argusmcp/argus/sdk"
	"github.com/argusmcp/argus/shared"
	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == "internal-plugin" {
		p, ok := plugins.Lookup(os.Args[2])
		if !ok {
			fmt.Fprintf(os.Stderr, "no built-in plugin %q\n", os.Args[2])
			os.Exit(2)
		}
		sdk.Serve(p)
	}
	if dir := os.Getenv(hostDirEnv); dir != "" {
		serveHost(dir, os.Getenv(hostConfigEnv))
	}
	if mode, ok := strings.CutPrefix(filepath.Base(os.Args[0]), "argus-plugin-"); ok {
		servePlugin(mode)
		os.Exit(0)
	}
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// servePlugin is the body of the test plugins.
func servePlugin(mode string) {
	switch mode {
	case "recorder":
		sdk.Serve(recorder())
	case "ping": // an external plugin overriding the built-in
		p, _ := plugins.Lookup("ping")
		sdk.Serve(p)
	case "notplugin":
		fmt.Println("usage: notplugin [flags]; this is an ordinary program")
	case "wrongcookie":
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig:  plugin.HandshakeConfig{MagicCookieKey: "OTHER_TOOL_PLUGIN", MagicCookieValue: "other"},
			VersionedPlugins: shared.PluginSets(nil),
			GRPCServer:       plugin.DefaultGRPCServer,
		})
		os.Exit(1)
	case "badversion":
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig:  shared.Handshake,
			VersionedPlugins: map[int]plugin.PluginSet{2: shared.PluginSets(nil)[1]},
			GRPCServer:       plugin.DefaultGRPCServer,
			Logger:           jsonLogger(),
		})
	case "crash":
		panic("recorder: cannot open /nonexistent/state: boom at start")
	case "hang":
		time.Sleep(time.Hour)
	case "hangnew": // handshakes, then hangs in its factory's New
		sdk.Serve(sdk.New("hangnew", "1", sdk.HealthProbe(sdk.ProbeFactory{
			New: func(context.Context, sdk.Config, sdk.Host) (sdk.Probe, error) { select {} },
		})))
	case "garbage":
		fmt.Println("\x00\x01garbage{{{ not a handshake")
		sdk.Serve(recorder())
	case "oversized":
		serveRaw(&bigInfo{})
	case "malformed":
		serveRaw(&garbledInfo{}, grpc.ForceServerCodec(garbleCodec{}))
	case "badschema":
		serveRaw(&badSchema{})
	case "crashconfigure":
		sdk.Serve(sdk.New("crashconfigure", "1", sdk.HealthProbe(sdk.ProbeFactory{
			Validate: func(sdk.Config) error { panic("crash in configure") },
			New:      func(context.Context, sdk.Config, sdk.Host) (sdk.Probe, error) { return nil, nil },
		})))
	default:
		fmt.Fprintf(os.Stderr, "unknown test plugin %q\n", mode)
		os.Exit(2)
	}
}

// The test binary plays an Argus host when hostDirEnv names a plugin
// directory: it starts the plugin instances of the configuration in
// hostConfigEnv, prints "started" and waits to be killed.
const (
	hostDirEnv    = "PLUGINHOST_TEST_HOST_DIR"
	hostConfigEnv = "PLUGINHOST_TEST_HOST_CONFIG"
)

func serveHost(dir, src string) {
	os.Unsetenv(hostDirEnv) // the plugins inherit the environment
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	cat, err := discovery.Scan(dir, discovery.Options{}, builtinsOf(exe)...)
	if err != nil {
		panic(err)
	}
	cfg, diags := configload.NewParser().Load([]byte(src), filepath.Join(dir, "argus.hcl"))
	if diags.HasErrors() {
		panic(diags.Error())
	}
	rt := pluginhost.New(pluginhost.Options{Catalog: cat, Logger: hclog.New(&hclog.LoggerOptions{Output: os.Stderr, Level: hclog.Warn})})
	if diags := rt.Start(context.Background(), pluginhost.Specs(cfg, nil)); diags.HasErrors() {
		panic(diags.Error())
	}
	fmt.Println("started")
	select {}
}

func jsonLogger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Output: os.Stderr, JSONFormat: true, Level: hclog.Debug})
}

// serveRaw serves a hand-written PluginService with go-plugin, no SDK.
func serveRaw(svc pluginv1.PluginServiceServer, opts ...grpc.ServerOption) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: shared.Handshake,
		VersionedPlugins: shared.PluginSets(func(_ *plugin.GRPCBroker, s *grpc.Server) error {
			pluginv1.RegisterPluginServiceServer(s, svc)
			return nil
		}),
		GRPCServer: func(o []grpc.ServerOption) *grpc.Server { return grpc.NewServer(append(o, opts...)...) },
		Logger:     jsonLogger(),
	})
}

type bigInfo struct {
	pluginv1.UnimplementedPluginServiceServer
}

func (bigInfo) GetInfo(context.Context, *pluginv1.GetInfoRequest) (*pluginv1.GetInfoResponse, error) {
	return &pluginv1.GetInfoResponse{Name: "oversized", Version: strings.Repeat("x", 20<<20),
		Kinds: []pluginv1.Kind{shared.KindHealthProbe}, ProtocolVersion: shared.ProtocolVersion}, nil
}

// garbledInfo answers GetInfo with bytes that are not a protobuf message.
type garbledInfo struct {
	pluginv1.UnimplementedPluginServiceServer
}

func (garbledInfo) GetInfo(context.Context, *pluginv1.GetInfoRequest) (*pluginv1.GetInfoResponse, error) {
	return &pluginv1.GetInfoResponse{Name: "\x00garble"}, nil
}

// garbleCodec is the proto codec, except that it replaces a GetInfo reply
// by a truncated varint.
type garbleCodec struct{}

func (garbleCodec) Marshal(v any) ([]byte, error) {
	if r, ok := v.(*pluginv1.GetInfoResponse); ok && r.GetName() == "\x00garble" {
		return []byte{0x0a, 0xff, 0xff, 0xff}, nil
	}
	return proto.Marshal(v.(proto.Message))
}
func (garbleCodec) Unmarshal(data []byte, v any) error {
	return proto.Unmarshal(data, v.(proto.Message))
}
func (garbleCodec) Name() string { return "proto" }

var _ encoding.Codec = garbleCodec{}

type badSchema struct {
	pluginv1.UnimplementedPluginServiceServer
}

func (badSchema) GetInfo(context.Context, *pluginv1.GetInfoRequest) (*pluginv1.GetInfoResponse, error) {
	return &pluginv1.GetInfoResponse{Name: "badschema", Version: "1", Kinds: []pluginv1.Kind{shared.KindHealthProbe}, ProtocolVersion: shared.ProtocolVersion}, nil
}

func (badSchema) GetSchema(context.Context, *pluginv1.GetSchemaRequest) (*pluginv1.GetSchemaResponse, error) {
	return &pluginv1.GetSchemaResponse{Schema: &pluginv1.Schema{Attributes: []*pluginv1.Attribute{
		{Name: "url", Type: pluginv1.AttributeType(99)},
		{Name: "host", Type: pluginv1.AttributeType_ATTRIBUTE_TYPE_STRING},
	}}}, nil
}

// recorder is a plugin of every kind that records what it gets in the file
// its configuration names, so tests can see it from outside.
func recorder() *sdk.Plugin {
	schema := func() *sdk.Schema {
		return sdk.NewSchema().
			String("label", "Echoed by checks.", sdk.Default("none")).
			String("file", "Where to record.").
			String("secret", "Logged at configure, to test redaction.", sdk.Sensitive()).
			Bool("hang", "Checks never answer.", sdk.Default(false)).
			Bool("spawn", "Start a child process (sleep) and record its pid.", sdk.Default(false))
	}
	return sdk.New("recorder", "2.0.0",
		sdk.AuditSink(sdk.SinkFactory{Schema: schema(), New: func(_ context.Context, cfg sdk.Config) (sdk.Sink, error) {
			return &recSink{rec: newRec(cfg)}, nil
		}}),
		sdk.TelemetryExporter(sdk.ExporterFactory{Schema: schema(), New: func(_ context.Context, cfg sdk.Config) (sdk.Exporter, error) {
			return &recExporter{rec: newRec(cfg)}, nil
		}}),
		sdk.HealthProbe(sdk.ProbeFactory{Schema: schema(), New: func(_ context.Context, cfg sdk.Config, host sdk.Host) (sdk.Probe, error) {
			return &recProbe{rec: newRec(cfg), host: host}, nil
		}}),
	)
}

type rec struct {
	cfg  sdk.Config
	file string
}

func newRec(cfg sdk.Config) rec {
	cfg.Logger().Warn("configured", "label", cfg.String("label"), "secret", cfg.String("secret"))
	r := rec{cfg: cfg, file: cfg.String("file")}
	r.record(map[string]any{"configured": cfg.String("label")})
	if cfg.Bool("spawn") {
		child := exec.Command("sleep", "300")
		if err := child.Start(); err != nil {
			panic(err)
		}
		r.record(map[string]any{"child": child.Process.Pid})
	}
	return r
}

func (r rec) record(v map[string]any) {
	if r.file == "" {
		return
	}
	v["pid"] = os.Getpid()
	b, _ := json.Marshal(v)
	f, err := os.OpenFile(r.file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	f.Write(append(b, '\n'))
}

type recSink struct{ rec }

func (s *recSink) Write(_ context.Context, events []sdk.Event) error {
	for _, e := range events {
		s.record(map[string]any{"seq": e.Seq})
	}
	return nil
}

type recExporter struct{ rec }

func (e *recExporter) ExportTraces(_ context.Context, req *coltracepb.ExportTraceServiceRequest) error {
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				e.record(map[string]any{"span": s.GetName()})
			}
		}
	}
	return nil
}

func (e *recExporter) ExportMetrics(_ context.Context, req *colmetricspb.ExportMetricsServiceRequest) error {
	e.record(map[string]any{"metrics": len(req.GetResourceMetrics())})
	return nil
}

type recProbe struct {
	rec
	host sdk.Host
}

func (p *recProbe) Check(ctx context.Context, backend string) (sdk.Result, error) {
	if p.cfg.Bool("hang") {
		<-ctx.Done()
		time.Sleep(time.Second) // answer late even then
		return sdk.Result{}, ctx.Err()
	}
	if backend != "" {
		if err := p.host.Ping(ctx, backend); err != nil {
			return sdk.Result{}, err
		}
	}
	return sdk.Result{Status: sdk.Healthy, Message: fmt.Sprintf("label=%s pid=%d", p.cfg.String("label"), os.Getpid())}, nil
}
