// Package sdktest runs an Argus plugin in-process for tests and checks it
// with a conformance suite per kind.
//
// Start serves a *sdk.Plugin inside the test process with go-plugin's test
// mode and connects to it through a real go-plugin client over gRPC, with
// the same message limits and call deadlines as Argus. Configurations are
// written in HCL, exactly as in an Argus configuration file, and decoded
// against the plugin's schema with the code Argus uses, so a test sees the
// diagnostics and the configuration a user would.
//
//	func TestConformance(t *testing.T) {
//		sdktest.SinkConformance(t, myplugin.Plugin(), `url = "`+srv.URL+`"`)
//	}
package sdktest

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"google.golang.org/grpc"

	"github.com/argusmcp/argus/sdk"
	"github.com/argusmcp/argus/sdk/internal/testserve"
	"github.com/argusmcp/argus/shared"
	"github.com/argusmcp/argus/shared/configschema"
	"github.com/argusmcp/argus/shared/probehost"
	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// CallTimeout bounds every call the harness makes whose context has no
// deadline, as Argus does.
const CallTimeout = 10 * time.Second

// Harness is one plugin served in-process and the host side connected to
// it. It is stopped when the test ends.
type Harness struct {
	t      testing.TB
	client *plugin.Client
	conn   *shared.Conn
	svc    pluginv1.PluginServiceClient
	log    *testLog
}

// Start serves p in-process and connects to it. Plugin log lines go to
// t.Log.
func Start(t testing.TB, p *sdk.Plugin) *Harness {
	t.Helper()
	tl := &testLog{t: t}
	log := hclog.New(&hclog.LoggerOptions{Name: p.Name(), Output: tl, Level: hclog.Debug})
	ctx, cancel := context.WithCancel(context.Background())
	rc, done, err := testserve.Serve(ctx, p, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: shared.Handshake,
		// A reattached client does not negotiate: it takes this set.
		Plugins:          shared.PluginSets(nil)[shared.ProtocolVersion],
		Reattach:         rc,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		GRPCDialOptions:  shared.DialOptions(CallTimeout),
		Logger:           log.Named("host"),
	})
	h := &Harness{t: t, client: client, log: tl}
	t.Cleanup(func() {
		client.Kill()
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("sdktest: plugin %q did not stop within 10s", p.Name())
		}
		tl.stop()
	})
	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("sdktest: connect to plugin %q: %v", p.Name(), err)
	}
	raw, err := rpc.Dispense(shared.PluginName)
	if err != nil {
		t.Fatalf("sdktest: dispense plugin %q: %v", p.Name(), err)
	}
	h.conn = raw.(*shared.Conn)
	h.svc = pluginv1.NewPluginServiceClient(h.conn.GRPC)
	return h
}

// Conn is the plugin connection, for calling its services directly (for
// exporters, the OTLP TraceService and MetricsService clients).
func (h *Harness) Conn() *grpc.ClientConn { return h.conn.GRPC }

// Kind is a plugin kind, as Configure takes it.
type Kind int

// The plugin kinds.
const (
	KindAuditSink Kind = iota + 1
	KindTelemetryExporter
	KindHealthProbe
)

var kindProtos = map[Kind]pluginv1.Kind{
	KindAuditSink:         shared.KindAuditSink,
	KindTelemetryExporter: shared.KindTelemetryExporter,
	KindHealthProbe:       shared.KindHealthProbe,
}

func (k Kind) proto() pluginv1.Kind { return kindProtos[k] }

// String is the kind's name as `argus plugins` shows it ("audit_sink", …).
func (k Kind) String() string { return shared.KindName(k.proto()) }

func kindOf(pk pluginv1.Kind) Kind {
	for k, v := range kindProtos {
		if v == pk {
			return k
		}
	}
	return 0
}

// Info is what a plugin says about itself when Argus starts it.
type Info struct {
	Name, Version   string
	Kinds           []Kind
	ProtocolVersion int
}

// Info asks the plugin for its name, version and kinds.
func (h *Harness) Info() Info {
	h.t.Helper()
	resp, err := h.svc.GetInfo(context.Background(), &pluginv1.GetInfoRequest{})
	if err != nil {
		h.t.Fatalf("sdktest: GetInfo: %v", err)
	}
	info := Info{Name: resp.GetName(), Version: resp.GetVersion(), ProtocolVersion: int(resp.GetProtocolVersion())}
	for _, k := range resp.GetKinds() {
		info.Kinds = append(info.Kinds, kindOf(k))
	}
	return info
}

// Attribute is one attribute of a plugin's schema as Argus receives it.
type Attribute struct {
	Name        string
	Description string
	// Type is the schema builder's name for it: "String", "Number",
	// "Int", "Bool", "Duration", "Strings" or "StringMap".
	Type      string
	Required  bool
	Sensitive bool
	// Default is the default value as JSON; empty without one.
	Default string
}

// Schema asks the plugin for kind's schema, checks it as Argus does (an
// invalid schema fails the test) and returns its attributes in order.
func (h *Harness) Schema(kind Kind) []Attribute {
	h.t.Helper()
	var out []Attribute
	for _, a := range h.schema(kind).GetAttributes() {
		out = append(out, Attribute{Name: a.GetName(), Description: a.GetDescription(), Type: configschema.SDKTypeName(a.GetType()),
			Required: a.GetRequired(), Sensitive: a.GetSensitive(), Default: a.GetDefaultJson()})
	}
	return out
}

// schema fetches kind's schema and fails the test if it is invalid.
func (h *Harness) schema(kind Kind) *pluginv1.Schema {
	h.t.Helper()
	resp, err := h.svc.GetSchema(context.Background(), &pluginv1.GetSchemaRequest{Kind: kind.proto()})
	if err != nil {
		h.t.Fatalf("sdktest: GetSchema(%s): %v", kind, err)
	}
	if err := configschema.Validate(resp.GetSchema()); err != nil {
		h.t.Fatalf("sdktest: the plugin's %s schema is invalid: %v", kind, err)
	}
	return resp.GetSchema()
}

// ConfigureOptions qualify Configure.
type ConfigureOptions struct {
	// Instance name; default "test".
	Instance string
	// DryRun only validates.
	DryRun bool
	// Host is offered to health probes over the go-plugin broker; nil
	// offers an empty FakeHost.
	Host sdk.Host
}

// Configure decodes config (the HCL body of the plugin's block) against the
// kind's schema as Argus does and configures the plugin with it. It returns
// the decoding diagnostics or, once decoding succeeded, the plugin's own,
// rendered as text ("" when there are none). A failing RPC fails the test.
func (h *Harness) Configure(kind Kind, config string, opts ConfigureOptions) string {
	h.t.Helper()
	const filename = "plugin.hcl"
	file, diags := hclsyntax.ParseConfig([]byte(config), filename, hcl.InitialPos)
	if diags.HasErrors() {
		return render(map[string]*hcl.File{filename: file}, diags)
	}
	schema := h.schema(kind)
	val, diags := configschema.Decode(file.Body, schema, nil)
	if diags.HasErrors() {
		return render(map[string]*hcl.File{filename: file}, diags)
	}
	if opts.Instance == "" {
		opts.Instance = "test"
	}
	req := &pluginv1.ConfigureRequest{Kind: kind.proto(), Instance: opts.Instance, ConfigJson: val.JSON, DryRun: opts.DryRun}
	if kind == KindHealthProbe && !opts.DryRun {
		host := opts.Host
		if host == nil {
			host = &FakeHost{}
		}
		req.HostServiceId = h.serveHost(host)
	}
	resp, err := h.svc.Configure(context.Background(), req)
	if err != nil {
		h.t.Fatalf("sdktest: Configure: %v", err)
	}
	return render(map[string]*hcl.File{filename: file}, configschema.Diagnostics(file.Body, resp.GetDiagnostics()))
}

// MustConfigure is Configure that fails the test on any diagnostic.
func (h *Harness) MustConfigure(kind Kind, config string, opts ConfigureOptions) {
	h.t.Helper()
	if out := h.Configure(kind, config, opts); out != "" {
		h.t.Fatalf("sdktest: configuring %s:\n%s", kind, out)
	}
}

// Shutdown calls Shutdown.
func (h *Harness) Shutdown() error {
	_, err := h.svc.Shutdown(context.Background(), &pluginv1.ShutdownRequest{})
	return err
}

// serveHost serves host as ProbeHostService on a new broker id.
func (h *Harness) serveHost(host sdk.Host) uint32 {
	id := h.conn.Broker.NextId()
	go h.conn.Broker.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
		s := grpc.NewServer(append(opts, shared.ServerOptions()...)...)
		probehost.Register(s, hostBackends{host})
		return s
	})
	return id
}

func render(files map[string]*hcl.File, diags hcl.Diagnostics) string {
	if len(diags) == 0 {
		return ""
	}
	var b strings.Builder
	_ = hcl.NewDiagnosticTextWriter(&b, files, 0, false).WriteDiagnostics(diags)
	return b.String()
}

// testLog writes log lines to t.Log until the test is over.
type testLog struct {
	t       testing.TB
	mu      sync.Mutex
	stopped atomic.Bool
}

func (l *testLog) Write(p []byte) (int, error) {
	if l.stopped.Load() {
		return len(p), nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped.Load() {
		l.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (l *testLog) stop() {
	l.mu.Lock()
	l.stopped.Store(true)
	l.mu.Unlock()
}

var _ io.Writer = (*testLog)(nil)

func errorf(format string, args ...any) error { return fmt.Errorf("sdktest: "+format, args...) }
