package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/backend"
	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/gateway"
	"github.com/argusmcp/argus/host/health"
	"github.com/argusmcp/argus/host/logging"
	"github.com/argusmcp/argus/host/pluginhost"
	"github.com/argusmcp/argus/host/supervisor"
	"github.com/argusmcp/argus/plugins"
	"github.com/argusmcp/argus/sdk"
	"github.com/argusmcp/argus/shared"
)

// internalPlugin is the hidden subcommand by which argus re-executes
// itself to serve one built-in plugin: `argus internal-plugin <name>`.
const internalPlugin = "internal-plugin"

// serveBuiltin serves a built-in plugin; it only returns on a bad name.
func serveBuiltin(args []string) int {
	if len(args) != 1 {
		fmt.Fprintf(os.Stderr, "usage: argus %s <name>\n", internalPlugin)
		return exitUser
	}
	p, ok := plugins.Lookup(args[0])
	if !ok {
		fmt.Fprintf(os.Stderr, "argus: no built-in plugin %q (have %s)\n", args[0], strings.Join(plugins.Names(), ", "))
		return exitUser
	}
	sdk.Serve(p)
	return exitOK
}

// pluginCatalog finds the built-ins (this binary, re-executed) and the
// plugins in plugin_dir, which is relative to the configuration file.
func pluginCatalog(cfg *config.Config) (*pluginhost.Catalog, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("locate the argus binary for built-in plugins: %w", err)
	}
	var builtins []pluginhost.Plugin
	for _, name := range plugins.Names() {
		builtins = append(builtins, pluginhost.Plugin{Name: name, Path: self, Args: []string{internalPlugin, name}})
	}
	dir := cfg.PluginDir
	if !filepath.IsAbs(dir) && !strings.HasPrefix(cfg.Filename, "<") {
		dir = filepath.Join(filepath.Dir(cfg.Filename), dir)
	}
	cat, err := pluginhost.Discover(dir, pluginhost.DiscoverOptions{AllowGroupWritable: cfg.PluginDirAllowGroupWritable}, builtins...)
	if err != nil {
		return cat, errUser{err}
	}
	return cat, nil
}

// quietLogger logs warnings and errors to w, for the one-shot commands.
func quietLogger(w io.Writer, secrets *logging.Secrets) hclog.Logger {
	log, _ := logging.New(logging.Options{Level: "warn", Output: w}, secrets)
	return log
}

// validatePlugins starts every configured plugin instance, decodes its
// configuration against the plugin's schema and dry-runs its configure
// step. Diagnostics are written with p.
func validatePlugins(ctx context.Context, cfg *config.Config, p *config.Parser, stderr io.Writer) (int, error) {
	cat, err := pluginCatalog(cfg)
	if err != nil {
		return 0, err
	}
	secrets := p.Secrets() // sensitive plugin attributes join the set diagnostics are redacted with
	for _, r := range cat.Refused() {
		fmt.Fprintf(stderr, "Warning: %v\n\n", r)
	}
	rt := pluginhost.New(pluginhost.Options{Catalog: cat, Logger: quietLogger(stderr, secrets), Secrets: secrets})
	specs := pluginhost.Specs(cfg, secrets.Add)
	diags := rt.Validate(ctx, specs)
	if len(diags) > 0 {
		p.WriteDiagnostics(stderr, diags, 100, isTerminal(stderr))
	}
	if diags.HasErrors() {
		return 0, errUser{errDiagnostics}
	}
	return len(specs), nil
}

// describeTimeout bounds each plugin's start in `argus plugins`, which
// starts them all at once: a plugin that does not handshake is listed as
// an error after that long.
const describeTimeout = 5 * time.Second

func cmdPlugins(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("plugins", stderr)
	path := fs.String("config", "argus.hcl", "configuration file naming plugin_dir (default: ./argus.hcl, else the embedded example)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "config" })
	cfg, err := loadConfig(ctx, *path, explicit, stderr)
	if err != nil {
		return err
	}
	cat, err := pluginCatalog(cfg)
	if err != nil {
		return err
	}
	rt := pluginhost.New(pluginhost.Options{Catalog: cat, Logger: quietLogger(stderr, cliSecrets(ctx)), StartTimeout: describeTimeout})
	list := cat.Plugins()
	infos := make([]pluginhost.Info, len(list))
	errs := make([]error, len(list))
	var wg sync.WaitGroup
	for i, p := range list {
		wg.Go(func() { infos[i], errs[i] = rt.Describe(ctx, p) })
	}
	wg.Wait()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKINDS\tVERSION\tSOURCE\tPATH\tSHA256")
	var failed []error
	for i, p := range list {
		kinds, ver := "-", "-"
		if err := errs[i]; err != nil {
			failed = append(failed, err)
			ver = "error"
		} else {
			kinds, ver = strings.Join(infos[i].Kinds, ","), infos[i].Version
		}
		sum, err := p.SHA256()
		if err != nil {
			sum = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, kinds, ver, p.Source(), p.Path, sum)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "\nplugin_dir: %s\n", cat.Dir())
	for _, err := range append(cat.Refused(), failed...) {
		fmt.Fprintf(stderr, "Error: %v\n", err)
	}
	if len(failed) > 0 || len(cat.Refused()) > 0 {
		return errUser{errors.New("some plugins cannot be used (see above)")}
	}
	return nil
}

// startPlugins registers the configured plugin instances for serve and
// starts them in the background: serving does not wait for them. The
// channel receives the diagnostics of their first start (see
// pluginhost.Runtime.Launch); configuration problems among them end serve
// (exit 1), while a plugin that cannot run is logged and retried.
func startPlugins(ctx context.Context, cfg *config.Config, log hclog.Logger,
	secrets *logging.Secrets, backends pluginhost.Backends) (*pluginhost.Runtime, <-chan hcl.Diagnostics, error) {
	cat, err := pluginCatalog(cfg)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range cat.Refused() {
		log.Warn("plugin refused", "error", r)
	}
	for _, pl := range cat.Plugins() {
		if pl.Overrides {
			log.Info("external plugin overrides the built-in", "plugin", pl.Name, "path", pl.Path)
		}
	}
	rt := pluginhost.New(pluginhost.Options{Catalog: cat, Logger: log, Secrets: secrets, Backends: backends})
	// A shutdown signal must not cut a plugin's first start short: an
	// audit sink still starting then could never deliver what was queued
	// for it. Runtime.Close, the last shutdown step, bounds those starts.
	return rt, rt.Launch(context.WithoutCancel(ctx), pluginhost.Specs(cfg, secrets.Add)), nil
}

// requiredSinks selects the audit sink instances with host.required set:
// the serving path needs them (audited calls are refused without them),
// so readiness waits for their first start.
func requiredSinks(cfg *config.Config) func(*pluginhost.Instance) bool {
	required := map[string]bool{}
	for _, s := range cfg.Audit.Sinks {
		if s.Required {
			required[shared.KindBlock(s.Kind)+"."+s.Name] = true
		}
	}
	return func(i *pluginhost.Instance) bool { return required[i.ID()] }
}

// probers are the health probe instances as the gateway's probes; none
// means the gateway's own ping check.
func probers(rt *pluginhost.Runtime) []supervisor.Prober {
	var out []supervisor.Prober
	for _, inst := range rt.Instances() {
		if inst.Spec().Kind == shared.KindHealthProbe {
			out = append(out, pluginProbe{inst: inst})
		}
	}
	return out
}

// pluginProbe checks backends through a health probe plugin instance,
// which reaches them through the host service (gatewayBackends).
type pluginProbe struct {
	inst *pluginhost.Instance
}

// Probe implements supervisor.Prober.
func (p pluginProbe) Probe(ctx context.Context, name string, _ *backend.Conn) health.Result {
	// A probe that cannot run says nothing about the backend: its result
	// is unknown, which the health rules ignore.
	client, err := p.inst.Probe(ctx)
	if err != nil {
		return health.Result{Status: health.StatusUnknown, Message: "probe " + p.inst.ID() + " unavailable: " + err.Error()}
	}
	res, err := client.Check(ctx, name)
	if err != nil {
		if ctx.Err() != nil {
			// The check ran out of time: the plugin's own answer (a slow
			// backend) and the deadline race, and either way the backend
			// did not answer within health.timeout. That is a failed check.
			return health.Result{Status: health.StatusUnhealthy, Message: "probe " + p.inst.ID() + ": check timed out: " + err.Error()}
		}
		return health.Result{Status: health.StatusUnknown, Message: "probe " + p.inst.ID() + ": " + err.Error()}
	}
	return health.Result{Status: health.Status(res.Status), Message: res.Message, Latency: res.Latency}
}

// gatewayBackends is the host service probe plugins reach backends
// through: the gateway's live backends, by name. The plugin runtime starts
// before the gateway exists, so the gateway is bound once it does.
type gatewayBackends struct {
	gw atomic.Pointer[gateway.Gateway]
}

// errNotConnected is a backend that is configured but has no session now.
var errNotConnected = errors.New("backend is not connected")

func (b *gatewayBackends) get(name string) (*backend.Conn, config.Backend, error) {
	gw := b.gw.Load()
	if gw == nil {
		return nil, config.Backend{}, fmt.Errorf("%w %q: the gateway is not running yet", pluginhost.ErrUnknownBackend, name)
	}
	conn, cfg, ok := gw.BackendConn(name)
	if !ok {
		return nil, cfg, fmt.Errorf("%w %q", pluginhost.ErrUnknownBackend, name)
	}
	return conn, cfg, nil
}

func (b *gatewayBackends) live(name string) (*backend.Conn, error) {
	conn, _, err := b.get(name)
	if err == nil && conn == nil {
		err = fmt.Errorf("%q: %w", name, errNotConnected)
	}
	return conn, err
}

func (b *gatewayBackends) Ping(ctx context.Context, name string) error {
	conn, err := b.live(name)
	if err != nil {
		return err
	}
	return conn.Ping(ctx)
}

func (b *gatewayBackends) ListTools(ctx context.Context, name string) ([]pluginhost.ToolInfo, error) {
	conn, err := b.live(name)
	if err != nil {
		return nil, err
	}
	res, err := conn.Session().ListTools(ctx, &mcp.ListToolsParams{})
	if err != nil {
		return nil, err
	}
	tools := make([]pluginhost.ToolInfo, 0, len(res.Tools))
	for _, t := range res.Tools {
		tools = append(tools, pluginhost.ToolInfo{Name: t.Name, Description: t.Description})
	}
	return tools, nil
}

func (b *gatewayBackends) Describe(name string) (pluginhost.BackendInfo, error) {
	conn, cfg, err := b.get(name)
	if err != nil {
		return pluginhost.BackendInfo{}, err
	}
	info := pluginhost.BackendInfo{Name: name, Transport: cfg.Type, Target: cfg.URL}
	if cfg.Type == config.TypeStdio {
		info.Target = cfg.Command
	}
	if conn != nil {
		select {
		case <-conn.Done():
		default:
			info.Connected, info.ProtocolVersion = true, conn.ProtocolVersion()
		}
	}
	return info, nil
}
