package sdk

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

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
	log := newLogger(os.Stderr)
	if os.Getenv(shared.Handshake.MagicCookieKey) == shared.Handshake.MagicCookieValue {
		watchHost(startPPID, log)
	}
	srv := newServer(p, log)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  shared.Handshake,
		VersionedPlugins: shared.PluginSets(srv.register),
		GRPCServer:       newGRPCServer,
		Logger:           log,
	})
	// plugin.Serve returns once the host closed the connection (it exits
	// the process itself when it could not start).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	srv.close(ctx)
	cancel()
	os.Exit(0)
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
	reattach := make(chan *plugin.ReattachConfig, 1)
	served := make(chan struct{})
	done := make(chan struct{})
	go plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  shared.Handshake,
		VersionedPlugins: shared.PluginSets(srv.register),
		GRPCServer:       newGRPCServer,
		Logger:           log,
		Test:             &plugin.ServeTestConfig{Context: ctx, ReattachConfigCh: reattach, CloseCh: served},
	})
	go func() {
		<-served
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.close(cctx)
		cancel()
		close(done)
	}()
	select {
	case rc := <-reattach:
		return rc, done, nil
	case <-done:
		return nil, done, fmt.Errorf("sdk: plugin %q stopped before serving", p.name)
	}
}

func newGRPCServer(opts []grpc.ServerOption) *grpc.Server {
	return grpc.NewServer(append(opts, shared.ServerOptions()...)...)
}

// newLogger is the plugin's logger: JSON lines on w, which go-plugin's host
// side parses and re-emits at their level. Unnamed, because the host names
// the lines after the plugin instance. The level comes from the host.
func newLogger(w io.Writer) hclog.Logger {
	level := hclog.LevelFromString(strings.TrimSpace(os.Getenv(shared.EnvLogLevel)))
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	return hclog.New(&hclog.LoggerOptions{Output: w, JSONFormat: true, Level: level})
}

// startPPID is the parent (the host) as the process started.
var startPPID = os.Getppid()

// watchHost holds SIGTERM while the host (ppid) lives and ends the plugin
// once it is gone: on a SIGTERM that comes with a new parent (the
// parent-death signal), or when the parent watch sees the parent change.
func watchHost(ppid int, log hclog.Logger) {
	terms := make(chan os.Signal, 1)
	signal.Notify(terms, syscall.SIGTERM)
	gone := func() bool { return ppid > 1 && os.Getppid() != ppid }
	if gone() {
		hostGone(ppid, log)
	}
	go func() {
		for range terms {
			if gone() {
				hostGone(ppid, log)
			}
			log.Debug("SIGTERM ignored: the host stops the plugin")
		}
	}()
	go watchParent(ppid, 250*time.Millisecond, log)
}

// watchParent ends the process once its parent has gone: the kernel then
// re-parents it (to init or a subreaper), so the parent pid changes.
func watchParent(ppid int, every time.Duration, log hclog.Logger) {
	if ppid <= 1 {
		return
	}
	for range time.Tick(every) {
		if os.Getppid() != ppid {
			hostGone(ppid, log)
		}
	}
}
