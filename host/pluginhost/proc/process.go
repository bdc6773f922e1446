package proc

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/argusmcp/argus/shared"
	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// Process is one started plugin process, past the handshake and GetInfo.
type Process struct {
	// Conn is the plugin protocol connection.
	Conn *shared.Conn
	// PID is the process id (and process group id).
	PID int
	// Info is what the plugin said of itself.
	Info *pluginv1.GetInfoResponse
	// Stderr holds the start of what the plugin wrote to stderr, for
	// errors (Error).
	Stderr *Tail

	exec   Exec
	client *plugin.Client
	runner *Runner
	log    hclog.Logger
}

// Exec is what to start: the plugin's name (for messages), its
// executable and arguments.
type Exec struct {
	Name string
	Path string
	Args []string
}

// Options of Start.
type Options struct {
	// Log receives go-plugin's own messages (at debug) and Stop's errors.
	Log hclog.Logger
	// Lines receives the plugin's log lines and its stdout and stderr.
	Lines hclog.Logger
	// Level is the host's log level, passed on to the plugin.
	Level hclog.Level
	// StartTimeout bounds the handshake; CallTimeout every call (0: none).
	StartTimeout, CallTimeout time.Duration
}

// Exited is closed once the process is gone.
func (p *Process) Exited() <-chan struct{} { return p.Conn.Exited.Done() }

// ExitStatus describes how the process ended ("exit status 2", "signal:
// killed"); only meaningful once Exited is closed.
func (p *Process) ExitStatus() string { return p.runner.ExitStatus() }

// Bounds of stopping a plugin.
const (
	// groupGrace is how long what a plugin started may outlive it after
	// SIGTERM before the process group is SIGKILLed.
	groupGrace = 2 * time.Second
	// killTimeout bounds go-plugin's Kill: it waits 2 s for a graceful
	// exit, SIGKILLs the group, and reaps within PipeWaitDelay.
	killTimeout = 2*time.Second + PipeWaitDelay + 2*time.Second
)

// Stop stops the process: go-plugin closes the connection, waits 2 s for
// the plugin to exit and then SIGKILLs its group; then what is left of the
// group gets SIGTERM and, after groupGrace, SIGKILL. Every step is bounded:
// Stop returns within killTimeout + groupGrace even if go-plugin does not.
func (p *Process) Stop() {
	done := make(chan struct{})
	go func() {
		p.client.Kill()
		close(done)
	}()
	pid := p.runner.PID()
	select {
	case <-done:
	case <-time.After(killTimeout):
		KillGroup(pid)
		select {
		case <-done:
		case <-time.After(PipeWaitDelay + time.Second):
			p.log.Error("plugin did not stop in time; abandoning it", "plugin", p.exec.Name, "pid", pid)
		}
	}
	StopGroup(pid, groupGrace)
}

// Error says which plugin (name, at path) failed where, with what it
// printed. It wraps err: errors.Is and errors.As see the cause (a
// context's end, a gRPC status).
func Error(name, path, stage string, err error, stderr *Tail) error {
	if stderr != nil {
		if s := stderr.String(); s != "" {
			return fmt.Errorf("plugin %q (%s): %s: %w; it printed: %q", name, path, stage, err, s)
		}
	}
	return fmt.Errorf("plugin %q (%s): %s: %w", name, path, stage, err)
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

// Start launches e as a plugin and completes go-plugin's handshake and
// GetInfo, within opts.StartTimeout or until ctx is done. On failure
// nothing is left running and the error says why (Error).
func Start(ctx context.Context, e Exec, opts Options) (*Process, error) {
	lines := opts.Lines
	stderr := &Tail{}
	cmd := exec.Command(e.Path, e.Args...)
	cmd.Env = []string{shared.EnvLogLevel + "=" + strings.ToLower(opts.Level.String())}
	pc := &Process{exec: e, runner: NewRunner(cmd), Stderr: stderr, log: opts.Log}
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
		StartTimeout:     opts.StartTimeout,
		Logger:           GoPluginLogger{Logger: opts.Log.With("plugin", e.Name), Lines: lines},
		Stderr:           stderr,
		SyncStdout:       &StdioLogger{Log: lines, Stream: "stdout"},
		SyncStderr:       &StdioLogger{Log: lines, Stream: "stderr"},
		GRPCDialOptions:  shared.DialOptions(opts.CallTimeout),
	})
	fail := func(stage string, err error) (*Process, error) {
		pc.Stop()
		return nil, Error(e.Name, e.Path, stage, err, stderr)
	}
	rpc, err := pc.handshake(ctx)
	if err != nil {
		msg := err.Error()
		switch {
		case strings.Contains(msg, "timeout while waiting for plugin to start"):
			err = fmt.Errorf("no handshake within %v (hung at start, or not a plugin)", opts.StartTimeout)
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
	pc.Conn = raw.(*shared.Conn)
	pc.PID = pc.runner.PID()
	info, err := pluginv1.NewPluginServiceClient(pc.Conn.GRPC).GetInfo(ctx, &pluginv1.GetInfoRequest{})
	if err != nil {
		return fail("get info", CallError(err))
	}
	if err := checkInfo(info); err != nil {
		return fail("get info", err)
	}
	pc.Info = info
	return pc, nil
}

// handshake starts the process and completes go-plugin's handshake,
// within StartTimeout (go-plugin's bound) or until ctx is done, whichever
// comes first.
func (p *Process) handshake(ctx context.Context) (plugin.ClientProtocol, error) {
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
	// killing the process, which it then notices (within PipeWaitDelay).
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

// Abort kills the process at once (no graceful exit); go-plugin notices
// within PipeWaitDelay. Stop still has to be called to release it.
func (p *Process) Abort() { _ = p.runner.Kill(context.Background()) }
