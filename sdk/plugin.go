package sdk

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/argusmcp/argus/sdk/internal/hostwatch"
	"github.com/argusmcp/argus/sdk/internal/pluginserve"
	"github.com/argusmcp/argus/sdk/internal/testserve"
	"github.com/argusmcp/argus/shared"
	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// Plugin is a plugin's description: its name, version and the kinds it
// provides. Build it with New; serve it with Serve.
type Plugin struct {
	name     string
	version  string
	sink     *SinkFactory
	exporter *ExporterFactory
	probe    *ProbeFactory
}

// Option adds a kind to a Plugin: AuditSink, TelemetryExporter or
// HealthProbe.
type Option func(*Plugin)

// New describes a plugin. name is what users write as the first label of
// the plugin's configuration blocks, and the suffix of its executable's
// name (argus-plugin-<name>). New panics on programming errors (no kind, a
// kind given twice, an invalid schema), which a plugin's own tests catch.
func New(name, version string, opts ...Option) *Plugin {
	p := &Plugin{name: name, version: version}
	for _, o := range opts {
		o(p)
	}
	if len(p.kinds()) == 0 {
		panic(fmt.Sprintf("sdk.New(%q): no kind given; pass sdk.AuditSink, sdk.TelemetryExporter or sdk.HealthProbe", name))
	}
	return p
}

// Name is the plugin's name.
func (p *Plugin) Name() string { return p.name }

// Version is the plugin's version.
func (p *Plugin) Version() string { return p.version }

func (p *Plugin) kinds() []pluginv1.Kind {
	var ks []pluginv1.Kind
	if p.sink != nil {
		ks = append(ks, shared.KindAuditSink)
	}
	if p.exporter != nil {
		ks = append(ks, shared.KindTelemetryExporter)
	}
	if p.probe != nil {
		ks = append(ks, shared.KindHealthProbe)
	}
	return ks
}

func (p *Plugin) schema(k pluginv1.Kind) (*Schema, bool) {
	switch {
	case k == shared.KindAuditSink && p.sink != nil:
		return p.sink.Schema, true
	case k == shared.KindTelemetryExporter && p.exporter != nil:
		return p.exporter.Schema, true
	case k == shared.KindHealthProbe && p.probe != nil:
		return p.probe.Schema, true
	}
	return nil, false
}

func mustOnce(p *Plugin, set bool, kind string) {
	if set {
		panic(fmt.Sprintf("sdk.New(%q): %s given twice", p.name, kind))
	}
}

func mustSchema(p *Plugin, s *Schema, kind string) {
	if err := s.err(); err != nil {
		panic(fmt.Sprintf("sdk.New(%q): %s schema: %v", p.name, kind, err))
	}
}

// Serve serves p to the Argus host that started this process and exits
// when the host stops it. It never returns. Run directly (not by Argus), it
// prints a message saying so and exits with status 1.
//
// Serve sets up the plugin's logger (JSON on stderr, which the host
// re-emits under the plugin's name) before anything else, because any
// byte on stdout before the handshake breaks it.
//
// Signals: SIGTERM (and, by go-plugin, SIGINT) is caught and discarded
// while the host lives, because a terminal's Ctrl-C, timeout(1) or a
// service manager signals every process of a group or service, and the
// plugin must outlive that moment so the host can flush and stop it in
// order. They are caught, not ignored, so processes the plugin starts
// begin with the default dispositions. When the host dies (SIGTERM as the
// parent-death signal on Linux, or the parent watch), the plugin kills its
// process group, which Argus makes it lead, so nothing it started
// survives, and exits.
func Serve(p *Plugin) {
	ServeAndReturn(p)
	os.Exit(0)
}

// ServeAndReturn is Serve, but returns once the host has stopped the
// plugin and its instances are closed, instead of exiting: for a main
// with work of its own to finish (a profile to write, say). The process
// should exit soon after.
func ServeAndReturn(p *Plugin) {
	log := pluginserve.Logger(os.Stderr)
	hostwatch.Start(log)
	srv := newServer(p, log)
	pluginserve.Run(srv.register, log)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	srv.close(ctx)
	cancel()
}

func init() {
	testserve.Serve = func(ctx context.Context, p any, log hclog.Logger) (*plugin.ReattachConfig, <-chan struct{}, error) {
		return serveTest(ctx, p.(*Plugin), log)
	}
}

// serveTest serves p in this process in go-plugin's test mode until ctx is
// done; sdk/sdktest reaches it through sdk/internal/testserve. It returns
// the configuration a go-plugin client reattaches with, and a channel
// closed once serving has stopped and the configured instance is closed.
func serveTest(ctx context.Context, p *Plugin, log hclog.Logger) (*plugin.ReattachConfig, <-chan struct{}, error) {
	srv := newServer(p, log)
	rc, done, err := pluginserve.Test(ctx, srv.register, srv.close, log)
	if err != nil {
		return nil, done, fmt.Errorf("sdk: plugin %q %w", p.name, err)
	}
	return rc, done, nil
}
