package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"github.com/hashicorp/hcl/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/argusmcp/argus/host/logging"
	"github.com/argusmcp/argus/shared"
	"github.com/argusmcp/argus/shared/configschema"
	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"

	"github.com/argusmcp/argus/host/pluginhost/proc"
)

// process is one started plugin process.
type process struct {
	plugin Plugin
	client *plugin.Client
	runner *proc.Runner
	conn   *shared.Conn
	pid    int
	info   *pluginv1.GetInfoResponse
	stderr *proc.Tail
	log    hclog.Logger
}

// exited is closed once the process is gone.
func (p *process) exited() <-chan struct{} { return p.conn.Exited.Done() }

// exitStatus describes how the process ended ("exit status 2", "signal:
// killed"); only meaningful once exited is closed.
func (p *process) exitStatus() string { return p.runner.ExitStatus() }

// Bounds of stopping a plugin.
const (
	// groupGrace is how long what a plugin started may outlive it after
	// SIGTERM before the process group is SIGKILLed.
	groupGrace = 2 * time.Second
	// killTimeout bounds go-plugin's Kill: it waits 2 s for a graceful
	// exit, SIGKILLs the group, and reaps within proc.PipeWaitDelay.
	killTimeout = 2*time.Second + proc.PipeWaitDelay + 2*time.Second
)

// kill stops the process: go-plugin closes the connection, waits 2 s for
// the plugin to exit and then SIGKILLs its group; then what is left of the
// group gets SIGTERM and, after groupGrace, SIGKILL. Every step is bounded:
// kill returns within killTimeout + groupGrace even if go-plugin does not.
func (p *process) kill() {
	done := make(chan struct{})
	go func() {
		p.client.Kill()
		close(done)
	}()
	pid := p.runner.PID()
	select {
	case <-done:
	case <-time.After(killTimeout):
		proc.KillGroup(pid)
		select {
		case <-done:
		case <-time.After(proc.PipeWaitDelay + time.Second):
			p.log.Error("plugin did not stop in time; abandoning it", "plugin", p.plugin.Name, "pid", pid)
		}
	}
	proc.StopGroup(pid, groupGrace)
}

// pluginError says which plugin failed where, with what it printed. It
// wraps err: errors.Is and errors.As see the cause (a context's end, a
// gRPC status).
func pluginError(p Plugin, stage string, err error, stderr *proc.Tail) error {
	if stderr != nil {
		if s := stderr.String(); s != "" {
			return fmt.Errorf("plugin %q (%s): %s: %w; it printed: %q", p.Name, p.Path, stage, err, s)
		}
	}
	return fmt.Errorf("plugin %q (%s): %s: %w", p.Name, p.Path, stage, err)
}

// CallError makes a gRPC failure of a plugin call readable: oversized and
// malformed replies are the plugin's fault and are named as such. The
// kinds' clients pass every call's error through it. The result wraps err,
// so status.Code still tells the call's status.
func CallError(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch {
	case st.Code() == codes.ResourceExhausted:
		return &callFailure{fmt.Sprintf("reply larger than the %d MiB limit: %s", shared.MaxMessageSize>>20, st.Message()), err}
	case st.Code() == codes.Internal && strings.Contains(st.Message(), "unmarshal"):
		return &callFailure{"malformed reply: " + st.Message(), err}
	case st.Code() == codes.DeadlineExceeded:
		return &callFailure{"no reply in time: " + st.Message(), err}
	}
	return &callFailure{fmt.Sprintf("%s: %s", st.Code(), st.Message()), err}
}

// callFailure is a failed plugin call described for people; it wraps the
// gRPC error.
type callFailure struct {
	msg string
	err error
}

func (e *callFailure) Error() string { return e.msg }
func (e *callFailure) Unwrap() error { return e.err }

// start launches p and completes the handshake and GetInfo. logName names
// the plugin's log lines.
func (r *Runtime) start(ctx context.Context, p Plugin, logName string) (*process, error) {
	level, _ := logging.ParseLevel("")
	if r.opts.Logger != nil {
		level = r.opts.Logger.GetLevel()
	}
	lines := r.opts.Logger.Named(logName)
	stderr := &proc.Tail{}
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Env = []string{shared.EnvLogLevel + "=" + strings.ToLower(level.String())}
	pc := &process{plugin: p, runner: proc.NewRunner(cmd), stderr: stderr, log: r.log}
	pc.client = plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  shared.Handshake,
		VersionedPlugins: shared.PluginSets(nil),
		// go-plugin passes a command carrying the environment it sets up.
		RunnerFunc: func(_ hclog.Logger, base *exec.Cmd, _ string) (runner.Runner, error) {
			cmd.Env = append(cmd.Env, base.Env...)
			return pc.runner, nil
		},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     r.opts.StartTimeout,
		Logger:           proc.GoPluginLogger{Logger: r.log.With("plugin", p.Name), Lines: lines},
		Stderr:           stderr,
		SyncStdout:       &proc.StdioLogger{Log: lines, Stream: "stdout"},
		SyncStderr:       &proc.StdioLogger{Log: lines, Stream: "stderr"},
		GRPCDialOptions:  shared.DialOptions(r.opts.CallTimeout),
	})
	fail := func(stage string, err error) (*process, error) {
		pc.kill()
		return nil, pluginError(p, stage, err, stderr)
	}
	rpc, err := pc.handshake(ctx)
	if err != nil {
		msg := err.Error()
		switch {
		case strings.Contains(msg, "timeout while waiting for plugin to start"):
			err = fmt.Errorf("no handshake within %v (hung at start, or not a plugin)", r.opts.StartTimeout)
		case strings.Contains(msg, "exited before we could connect"), strings.Contains(msg, "Failed to read any lines"):
			err = fmt.Errorf("exited before the handshake (crashed at start, or not an Argus plugin: wrong magic cookie)")
		case strings.Contains(msg, "incompatible API version"):
			err = fmt.Errorf("unsupported plugin protocol version: %s", strings.TrimSpace(strings.Split(msg, "\n")[0]))
		case strings.Contains(msg, "Unrecognized remote plugin message"):
			first := strings.TrimSpace(strings.Split(msg, "\n")[0])
			err = fmt.Errorf("not an Argus plugin, or it wrote to stdout before the handshake: %s", first)
		}
		return fail("start", err)
	}
	raw, err := rpc.Dispense(shared.PluginName)
	if err != nil {
		return fail("start", err)
	}
	pc.conn = raw.(*shared.Conn)
	pc.pid = pc.runner.PID()
	info, err := pluginv1.NewPluginServiceClient(pc.conn.GRPC).GetInfo(ctx, &pluginv1.GetInfoRequest{})
	if err != nil {
		return fail("get info", CallError(err))
	}
	if err := checkInfo(info); err != nil {
		return fail("get info", err)
	}
	if info.GetName() != p.Name {
		r.log.Warn("plugin reports another name than its file", "plugin", p.Name, "path", p.Path, "reported", info.GetName())
	}
	pc.info = info
	return pc, nil
}

// handshake starts the process and completes go-plugin's handshake,
// within StartTimeout (go-plugin's bound) or until ctx is done, whichever
// comes first.
func (p *process) handshake(ctx context.Context) (plugin.ClientProtocol, error) {
	type result struct {
		rpc plugin.ClientProtocol
		err error
	}
	ch := make(chan result, 1)
	go func() {
		rpc, err := p.client.Client()
		ch <- result{rpc, err}
	}()
	select {
	case res := <-ch:
		return res.rpc, res.err
	case <-ctx.Done():
	}
	// go-plugin holds its lock until the handshake ends: end it by
	// killing the process, which it then notices (within proc.PipeWaitDelay).
	p.runner.Kill(context.Background())
	<-ch
	return nil, fmt.Errorf("handshake: %w", ctx.Err())
}

func checkInfo(info *pluginv1.GetInfoResponse) error {
	if v := info.GetProtocolVersion(); v != shared.ProtocolVersion {
		return fmt.Errorf("malformed reply: the plugin reports protocol version %d, this Argus speaks %d", v, shared.ProtocolVersion)
	}
	if len(info.GetKinds()) == 0 {
		return errors.New("malformed reply: the plugin declares no kinds")
	}
	for _, k := range info.GetKinds() {
		if k != shared.KindAuditSink && k != shared.KindTelemetryExporter && k != shared.KindHealthProbe {
			return fmt.Errorf("malformed reply: unknown kind %v", k)
		}
	}
	return nil
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
		if errors.Is(err, ErrRefused) {
			summary = "Plugin refused"
		}
		return nil, diag(summary, fmt.Sprintf("%s %q %q: %v.", block, spec.Plugin, spec.Name, err)), nil
	}
	if spec.SHA256 != "" {
		if p.Builtin {
			return nil, diag("Pinned plugin is built in", fmt.Sprintf(
				"host.sha256 pins an external plugin, but no %s%s was found in the plugin directory and %q is built into argus.",
				ExecutablePrefix, spec.Plugin, spec.Plugin)), nil
		}
		sum, err := fileSHA256(p.Path)
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
			pc.kill()
		}
	}()
	if !slices.Contains(pc.info.GetKinds(), spec.Kind) {
		var kinds []string
		for _, k := range pc.info.GetKinds() {
			kinds = append(kinds, shared.KindName(k))
		}
		return nil, diag("Wrong kind of plugin", fmt.Sprintf("Plugin %q provides %s, not %s, so it cannot be used in a %s block.",
			spec.Plugin, strings.Join(kinds, ", "), shared.KindName(spec.Kind), block)), nil
	}
	svc := pluginv1.NewPluginServiceClient(pc.conn.GRPC)
	schema, err := svc.GetSchema(ctx, &pluginv1.GetSchemaRequest{Kind: spec.Kind})
	if err != nil {
		return nil, nil, pluginError(p, "get schema", CallError(err), pc.stderr)
	}
	if err := configschema.Validate(schema.GetSchema()); err != nil {
		return nil, nil, pluginError(p, "get schema", fmt.Errorf("malformed reply: invalid schema: %w", err), pc.stderr)
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
		return nil, nil, pluginError(p, "configure", CallError(err), pc.stderr)
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
	id := pc.conn.Broker.NextId()
	go pc.conn.Broker.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
		s := grpc.NewServer(append(opts, shared.ServerOptions()...)...)
		register(s)
		return s
	})
	return id
}
