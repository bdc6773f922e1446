package proc

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin/runner"
)

// PipeWaitDelay bounds how long Argus reads a plugin's stdout and stderr
// after the plugin exited: a process it left behind (a shell script's
// background child) may hold them open for ever.
const PipeWaitDelay = time.Second

// Runner runs a plugin's process for go-plugin (ClientConfig.RunnerFunc)
// so that no wait on it is unbounded. go-plugin's own runner hands it the
// process's pipes and reads them to their end before it reaps the process,
// so a grandchild holding them open hangs Kill for ever. Here exec.Cmd
// copies the output into in-memory pipes and, with WaitDelay, gives up on
// the output PipeWaitDelay after the process exited; then go-plugin's
// readers see the end. The process leads its own process group (procAttr),
// which Kill kills as a whole. A Kill before Start (a launch cancelled
// while go-plugin was still preparing, before it ran anything) makes Start
// fail instead of starting a process nobody will stop.
type Runner struct {
	mu             sync.Mutex // Start against Kill and pid
	killed         bool       // Kill was called; Start must not run anything
	cmd            *exec.Cmd
	stdout, stderr *io.PipeReader
	outW, errW     *io.PipeWriter
	done           chan struct{} // closed once the process is reaped
	err            error         // how it ended; set before done
}

var _ runner.Runner = (*Runner)(nil)

// NewRunner prepares cmd; it starts nothing yet. The plugin's stdin is
// /dev/null: it must not read a terminal it does not own.
func NewRunner(cmd *exec.Cmd) *Runner {
	r := &Runner{cmd: cmd, done: make(chan struct{})}
	r.stdout, r.outW = io.Pipe()
	r.stderr, r.errW = io.Pipe()
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = r.outW, r.errW
	cmd.SysProcAttr = procAttr()
	cmd.WaitDelay = PipeWaitDelay
	return r
}

// errKilledBeforeStart is Start's error after a Kill.
var errKilledBeforeStart = errors.New("killed before it started")

func (r *Runner) Start(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.killed {
		r.outW.CloseWithError(errKilledBeforeStart)
		r.errW.CloseWithError(errKilledBeforeStart)
		return errKilledBeforeStart
	}
	if err := r.cmd.Start(); err != nil {
		r.outW.CloseWithError(err)
		r.errW.CloseWithError(err)
		return err
	}
	go func() {
		err := r.cmd.Wait()
		if errors.Is(err, exec.ErrWaitDelay) {
			err = nil // it exited cleanly; what it left behind held the pipes
		}
		r.err = err
		r.outW.Close()
		r.errW.Close()
		close(r.done)
	}()
	return nil
}

// Wait waits until the process is reaped (within PipeWaitDelay of its
// exit).
func (r *Runner) Wait(ctx context.Context) error {
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Kill SIGKILLs the process and its whole group; before Start, it makes
// Start fail.
func (r *Runner) Kill(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.killed = true
	if r.cmd.Process == nil {
		return nil
	}
	KillGroup(r.cmd.Process.Pid)
	if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

// Exited is closed once the process is reaped.
func (r *Runner) Exited() <-chan struct{} { return r.done }

// ExitStatus describes how the process ended ("exit status 2", "signal:
// killed"), "exited" if that is not known; only meaningful once Exited is
// closed.
func (r *Runner) ExitStatus() string {
	if r.cmd.ProcessState == nil {
		return "exited"
	}
	return r.cmd.ProcessState.String()
}

// PID is the process's id, 0 before it started.
func (r *Runner) PID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd.Process == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

func (r *Runner) Stdout() io.ReadCloser           { return r.stdout }
func (r *Runner) Stderr() io.ReadCloser           { return r.stderr }
func (r *Runner) Name() string                    { return r.cmd.Path }
func (r *Runner) Diagnose(context.Context) string { return "" }

func (r *Runner) ID() string {
	if pid := r.PID(); pid != 0 {
		return strconv.Itoa(pid)
	}
	return ""
}

func (r *Runner) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

func (r *Runner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}
