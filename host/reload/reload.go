// Package reload applies a changed configuration file to a running
// gateway: POST /manage/v1/reload and SIGHUP call File.Reload.
package reload

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/config/configload"
	"github.com/argusmcp/argus/host/gateway"
	"github.com/argusmcp/argus/host/logging"
	"github.com/argusmcp/argus/host/manage"
	"github.com/argusmcp/argus/host/pluginhost"
	"github.com/argusmcp/argus/host/pluginhost/probe"
	"github.com/argusmcp/argus/host/policy"
	"github.com/argusmcp/argus/host/supervisor"
	"github.com/argusmcp/argus/shared"
	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// File is the function behind POST /manage/v1/reload and SIGHUP: it
// re-reads the configuration file and applies what can change live —
// backends, conflict policy, filters, health settings and health probes —
// and reports the rest under restart_required: server, auth, log,
// management, plugin_dir, audit and telemetry (their pipelines hold
// queued events and exporters that a live swap could lose).
//
// Reloads are serialised. The plugin instances of a kind are matched by
// their ID and a fingerprint of their configuration (host settings and
// attribute values): a changed instance is a removed one and a new one.
type File struct {
	// guard, if set (SetGuard), gets the reloaded policies and quotas.
	guard   *policy.Guard
	path    string
	gw      *gateway.Gateway
	rt      *pluginhost.Runtime
	secrets *logging.Secrets
	log     hclog.Logger

	// boot is the configuration serve started with: the sections that
	// need a restart are compared with it, as they are what is in force.
	boot       *config.Config
	bootPrints map[string]string

	mu      sync.Mutex
	running *config.Config
	prints  map[string]string // fingerprint of each running plugin instance, by ID
}

// New returns the reloader of the configuration file at path, which serve
// started with as cfg. The file's secrets join secrets.
func New(path string, cfg *config.Config, gw *gateway.Gateway, rt *pluginhost.Runtime, secrets *logging.Secrets, log hclog.Logger) *File {
	prints := fingerprints(cfg)
	return &File{path: path, gw: gw, rt: rt, secrets: secrets, log: log, boot: cfg, bootPrints: prints, running: cfg, prints: prints}
}

// SetGuard hands every successful reload's policies and quotas to g.
func (r *File) SetGuard(g *policy.Guard) { r.guard = g }

// Func is r.Reload as manage.Options.Reload takes it, or nil for a nil r
// (a configuration that came from no file to re-read).
func (r *File) Func() func() (supervisor.ReloadSummary, string, error) {
	if r == nil {
		return nil
	}
	return r.Reload
}

// Reload re-reads the file and applies it. It returns what changed, the
// rendered diagnostics (warnings even on success), and an error wrapping
// manage.ErrInvalidConfig when the file or a plugin's configuration is
// invalid; then the running configuration stays.
func (r *File) Reload() (supervisor.ReloadSummary, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// The running secrets redact the diagnostics (a token line in a
	// snippet), and the new file's secrets join them even if it fails.
	p := configload.NewParserWith(r.secrets)
	cfg, diags := p.LoadFile(r.path)
	var buf strings.Builder
	if len(diags) > 0 {
		p.WriteDiagnostics(&buf, diags, 0, false)
	}
	if diags.HasErrors() {
		return supervisor.ReloadSummary{}, buf.String(), fmt.Errorf("%w: %s", manage.ErrInvalidConfig, r.path)
	}
	r.secrets.Add(cfg.Secrets...)
	prints := fingerprints(cfg)
	restart := r.restartRequired(cfg, prints)

	// Probes: start the added and changed ones first, so a probe whose
	// configuration is wrong refuses the reload with nothing changed.
	added, removed := diffInstances(r.prints, prints, shared.KindHealthProbe)
	var specs []pluginhost.Spec
	for _, s := range pluginhost.Specs(cfg, r.secrets.Add) {
		if added[s.ID()] {
			specs = append(specs, s)
		}
	}
	fresh, ch := r.rt.LaunchInstances(context.Background(), specs)
	if pd := <-ch; len(pd) > 0 {
		p.WriteDiagnostics(&buf, pd, 0, false)
		if pd.HasErrors() {
			r.stop(fresh)
			return supervisor.ReloadSummary{}, buf.String(), fmt.Errorf("%w: %s", manage.ErrInvalidConfig, r.path)
		}
	}
	sum, err := r.gw.Apply(cfg, restart...)
	if err != nil {
		r.stop(fresh)
		return sum, buf.String(), fmt.Errorf("%w: %v", manage.ErrInvalidConfig, err)
	}
	if r.guard != nil {
		if err := r.guard.Set(cfg); err != nil {
			r.log.Error("policies not reloaded", "error", err) // compiled at load: cannot happen
		}
	}
	var old []*pluginhost.Instance
	for _, inst := range r.rt.Instances() {
		if removed[inst.ID()] && !slices.Contains(fresh, inst) {
			old = append(old, inst)
		}
	}
	r.stop(old)
	r.gw.SetProbes(probe.Probers(r.rt))
	r.running, r.prints = cfg, prints
	if len(added)+len(removed) > 0 {
		sum.Changed = append(sum.Changed, probeChanges(added, removed)...)
	}
	r.log.Info("configuration reloaded", "file", r.path, "added", sum.Added, "removed", sum.Removed, "changed", sum.Changed, "updated", sum.Updated)
	if len(sum.Restart) > 0 {
		r.log.Warn("configuration reloaded, but these settings changed and take effect only after a restart", "restart_required", sum.Restart)
	}
	return sum, buf.String(), nil
}

// restartRequired lists the sections that differ from those in force
// since start-up, as they are not applied live (the gateway adds server,
// auth and log itself).
func (r *File) restartRequired(cfg *config.Config, prints map[string]string) []string {
	old := r.boot
	var out []string
	if old.Management != cfg.Management {
		out = append(out, "management")
	}
	// The plugin catalogue, and which files it accepts, is made at
	// start-up.
	if old.PluginDir != cfg.PluginDir || old.PluginDirAllowGroupWritable != cfg.PluginDirAllowGroupWritable {
		out = append(out, "plugin_dir")
	}
	a, b := old.Audit, cfg.Audit
	a.Sinks, b.Sinks = nil, nil
	if !reflect.DeepEqual(a, b) || sectionChanged(r.bootPrints, prints, shared.KindAuditSink) {
		out = append(out, "audit")
	}
	t, u := old.Telemetry, cfg.Telemetry
	t.Exporters, u.Exporters = nil, nil
	if !reflect.DeepEqual(t, u) || sectionChanged(r.bootPrints, prints, shared.KindTelemetryExporter) {
		out = append(out, "telemetry")
	}
	return out
}

func (r *File) stop(instances []*pluginhost.Instance) {
	for _, inst := range instances {
		ctx, cancel := context.WithTimeout(context.Background(), r.running.Server.ShutdownTimeout)
		if err := r.rt.Stop(ctx, inst); err != nil {
			r.log.Warn("stopping plugin instance", "instance", inst.ID(), "error", err)
		}
		cancel()
	}
}

func probeChanges(added, removed map[string]bool) []string {
	ids := maps.Clone(added)
	maps.Copy(ids, removed)
	return slices.Sorted(maps.Keys(ids))
}

// kindOf is the instance kind a fingerprint key belongs to.
func kindOf(id string, kind string) bool { return strings.HasPrefix(id, kind+".") }

// diffInstances compares the instances of one kind: added holds the IDs
// to start (new or changed), removed the IDs to stop (gone or changed).
func diffInstances(old, cur map[string]string, kind pluginv1.Kind) (added, removed map[string]bool) {
	block := shared.KindBlock(kind)
	added, removed = map[string]bool{}, map[string]bool{}
	for id, fp := range cur {
		if kindOf(id, block) && old[id] != fp {
			added[id] = true
		}
	}
	for id, fp := range old {
		if kindOf(id, block) && cur[id] != fp {
			removed[id] = true
		}
	}
	return added, removed
}

func sectionChanged(old, cur map[string]string, kind pluginv1.Kind) bool {
	added, removed := diffInstances(old, cur, kind)
	return len(added)+len(removed) > 0
}

// fingerprints identifies each plugin instance's configuration: its host
// settings and the values its attributes evaluate to (so a changed env()
// or file() counts), or its source text when it has nested blocks.
// Fingerprints hold secret values: they are compared, never printed.
func fingerprints(cfg *config.Config) map[string]string {
	eval := cfg.EvalContext(func(...string) {})
	out := map[string]string{}
	for _, in := range cfg.PluginInstances() {
		var b strings.Builder
		fmt.Fprintf(&b, "%s|%s|%v|%d|%s|", in.Plugin, in.SHA256, in.Required, in.QueueSize, in.OnFull)
		bodyPrint(&b, in.Body, eval)
		out[shared.KindBlock(in.Kind)+"."+in.Name] = b.String()
	}
	return out
}

func bodyPrint(b *strings.Builder, body hcl.Body, eval *hcl.EvalContext) {
	attrs, diags := body.JustAttributes()
	if diags.HasErrors() { // nested blocks: cannot tell, so count as changed
		fmt.Fprintf(b, "unknown:%p", body)
		return
	}
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		v, d := attrs[name].Expr.Value(eval)
		if d.HasErrors() || !v.IsWhollyKnown() {
			fmt.Fprintf(b, "%s=?%p;", name, attrs[name])
			continue
		}
		j, err := ctyjson.Marshal(v, v.Type())
		if err != nil {
			fmt.Fprintf(b, "%s=?%p;", name, attrs[name])
			continue
		}
		fmt.Fprintf(b, "%s=%s;", name, j)
	}
}

// OnSIGHUP reloads f on every SIGHUP, logging failures, until the
// returned stop is called; with f nil (serve has no configuration file to
// re-read) it logs that the signal is ignored. Either way SIGHUP does not
// end the process meanwhile.
func OnSIGHUP(f *File, log hclog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	done := make(chan struct{})
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for {
			select {
			case <-hup:
			case <-done:
				return
			}
			if f == nil {
				log.Warn("SIGHUP ignored: no configuration file to reload")
				continue
			}
			if _, diags, err := f.Reload(); err != nil {
				log.Error("reload failed; the running configuration stays", "error", err, "diagnostics", diags)
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
	}
}
