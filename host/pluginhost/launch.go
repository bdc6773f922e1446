package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"google.golang.org/grpc"

	"github.com/argusmcp/argus/host/logging"
	"github.com/argusmcp/argus/shared"
	"github.com/argusmcp/argus/shared/configschema"
	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"

	"github.com/argusmcp/argus/host/pluginhost/discovery"
	"github.com/argusmcp/argus/host/pluginhost/proc"
)

// process is one started plugin process and the plugin it runs.
type process struct {
	*proc.Process
	plugin discovery.Plugin
}

// pluginError says which plugin failed where (proc.Error).
func pluginError(p discovery.Plugin, stage string, err error, stderr *proc.Tail) error {
	return proc.Error(p.Name, p.Path, stage, err, stderr)
}

// start launches p and completes the handshake and GetInfo. logName names
// the plugin's log lines.
func (r *Runtime) start(ctx context.Context, p discovery.Plugin, logName string) (*process, error) {
	level, _ := logging.ParseLevel("")
	if r.opts.Logger != nil {
		level = r.opts.Logger.GetLevel()
	}
	pc, err := proc.Start(ctx, proc.Exec{Name: p.Name, Path: p.Path, Args: p.Args}, proc.Options{
		Log: r.log, Lines: r.opts.Logger.Named(logName), Level: level,
		StartTimeout: r.opts.StartTimeout, CallTimeout: r.opts.CallTimeout,
	})
	if err != nil {
		return nil, err
	}
	if pc.Info.GetName() != p.Name {
		r.log.Warn("plugin reports another name than its file", "plugin", p.Name, "path", p.Path, "reported", pc.Info.GetName())
	}
	return &process{Process: pc, plugin: p}, nil
}

// launch starts the plugin of spec, decodes spec.Body against its schema
// and configures it (only validates, with dryRun). The diagnostics are
// configuration problems; the error is a plugin that misbehaved. On
// success the caller owns the process. decoded, if not nil, is called once
// the block's sensitive values have joined Options.Secrets.
func (r *Runtime) launch(ctx context.Context, spec Spec, dryRun bool, decoded func()) (*process, hcl.Diagnostics, error) {
	block := shared.KindBlock(spec.Kind)
	diag := func(summary, detail string) hcl.Diagnostics {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: spec.DeclRange.Ptr()}}
	}
	p, err := r.opts.Catalog.Lookup(spec.Plugin)
	if err != nil {
		summary := "Unknown plugin"
		if errors.Is(err, discovery.ErrRefused) {
			summary = "Plugin refused"
		}
		return nil, diag(summary, fmt.Sprintf("%s %q %q: %v.", block, spec.Plugin, spec.Name, err)), nil
	}
	if spec.SHA256 != "" {
		if p.Builtin {
			return nil, diag("Pinned plugin is built in", fmt.Sprintf(
				"host.sha256 pins an external plugin, but no %s%s was found in the plugin directory and %q is built into argus.",
				discovery.ExecutablePrefix, spec.Plugin, spec.Plugin)), nil
		}
		sum, err := p.SHA256()
		if err != nil {
			return nil, nil, pluginError(p, "verify sha256", err, nil)
		}
		if sum != spec.SHA256 {
			return nil, diag("Plugin checksum mismatch", fmt.Sprintf(
				"%s has sha256 %s, but host.sha256 pins %s; the plugin was not started.", p.Path, sum, spec.SHA256)), nil
		}
	}
	pc, err := r.start(ctx, p, "plugin."+spec.Plugin+"."+spec.Name)
	if err != nil {
		return nil, nil, err
	}
	ok := false
	defer func() {
		if !ok {
			pc.Stop()
		}
	}()
	if !slices.Contains(pc.Info.GetKinds(), spec.Kind) {
		var kinds []string
		for _, k := range pc.Info.GetKinds() {
			kinds = append(kinds, shared.KindName(k))
		}
		return nil, diag("Wrong kind of plugin", fmt.Sprintf("Plugin %q provides %s, not %s, so it cannot be used in a %s block.",
			spec.Plugin, strings.Join(kinds, ", "), shared.KindName(spec.Kind), block)), nil
	}
	svc := pluginv1.NewPluginServiceClient(pc.Conn.GRPC)
	schema, err := svc.GetSchema(ctx, &pluginv1.GetSchemaRequest{Kind: spec.Kind})
	if err != nil {
		return nil, nil, pluginError(p, "get schema", proc.CallError(err), pc.Stderr)
	}
	if err := configschema.Validate(schema.GetSchema()); err != nil {
		return nil, nil, pluginError(p, "get schema", fmt.Errorf("malformed reply: invalid schema: %w", err), pc.Stderr)
	}
	val, diags := configschema.Decode(spec.Body, schema.GetSchema(), spec.Eval)
	if diags.HasErrors() {
		return nil, diags, nil
	}
	if r.opts.Secrets != nil {
		r.opts.Secrets.Add(val.Sensitive...)
	}
	if decoded != nil {
		decoded()
	}
	req := &pluginv1.ConfigureRequest{Kind: spec.Kind, Instance: spec.Name, ConfigJson: val.JSON, DryRun: dryRun}
	if !dryRun {
		req.HostServiceId = r.serveHost(spec, pc)
	}
	resp, err := svc.Configure(ctx, req)
	if err != nil {
		return nil, nil, pluginError(p, "configure", proc.CallError(err), pc.Stderr)
	}
	diags = append(diags, configschema.Diagnostics(spec.Body, resp.GetDiagnostics())...)
	if diags.HasErrors() {
		return nil, diags, nil
	}
	ok = true
	return pc, diags, nil
}

// serveHost offers the host's services for spec's kind to its process
// over the broker; 0 when the kind has none. The services live as long as
// the process's connection.
func (r *Runtime) serveHost(spec Spec, pc *process) uint32 {
	register := r.opts.HostServices[spec.Kind]
	if register == nil {
		return 0
	}
	id := pc.Conn.Broker.NextId()
	go pc.Conn.Broker.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
		s := grpc.NewServer(append(opts, shared.ServerOptions()...)...)
		register(s)
		return s
	})
	return id
}
