package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/argusmcp/argus/host/pluginhost/proc"
	"github.com/argusmcp/argus/shared"
)

// Phase is where an instance is in its life.
type Phase string

// Phases.
const (
	// PhaseStarting: a process is being started and configured.
	PhaseStarting Phase = "starting"
	// PhaseRunning: the process is configured and serving.
	PhaseRunning Phase = "running"
	// PhaseBackoff: the process exited or could not be started; a restart
	// is scheduled.
	PhaseBackoff Phase = "backoff"
	// PhaseStopping: Close is stopping the process.
	PhaseStopping Phase = "stopping"
	// PhaseStopped: the instance is stopped for good.
	PhaseStopped Phase = "stopped"
)

// ErrStopped is returned by an instance's accessors once it is stopped.
var ErrStopped = errors.New("plugin instance stopped")

// ErrWrongKind is returned by an accessor of another kind than the
// instance's.
var ErrWrongKind = errors.New("plugin instance is of another kind")

// stableAfter is how long a process must run before its exit no longer
// counts as a failed start (the backoff starts over).
const stableAfter = 30 * time.Second

// livenessFailures is how many health checks in a row may fail before a
// running plugin is restarted.
const livenessFailures = 3

// Status is a snapshot of one instance, for the management API.
type Status struct {
	ID      string `json:"instance"` // "<block>.<name>", e.g. "sink.siem"
	Name    string `json:"name"`
	Kind    string `json:"kind"` // "audit_sink", "telemetry_exporter", "health_probe"
	Plugin  string `json:"plugin"`
	Version string `json:"version"` // as the running (or last) process reported it
	Path    string `json:"path"`
	// SHA256 is the executable's hash (for built-ins, the argus binary's),
	// as Runtime.Status reads it; "" until a process started.
	SHA256  string `json:"sha256"`
	Builtin bool   `json:"builtin"`
	Phase   Phase  `json:"phase"`
	PID     int    `json:"pid"` // 0 when no process runs
	// Generation counts the processes that were configured successfully.
	Generation uint64 `json:"generation"`
	// Restarts counts the starts after the first one, successful or not.
	Restarts  int    `json:"restarts"`
	LastError string `json:"last_error"`
	// Since is when the instance entered Phase.
	Since time.Time `json:"since"`
}

// Instance is one configured plugin instance and its supervisor.
type Instance struct {
	rt   *Runtime
	spec Spec
	log  hclog.Logger

	ctx    context.Context // cancelled by stop
	cancel context.CancelFunc
	done   chan struct{} // closed when supervise returns

	mu     sync.Mutex
	status Status
	pc     *process      // the running process; nil when none
	gen    uint64        // generation of pc
	ready  chan struct{} // closed while pc != nil

	decodedOnce sync.Once
	decoded     chan struct{} // closed once the first start has read the block (or given up)
}

// markDecoded records that the instance's configuration has been read
// against its schema, so its sensitive values are known secrets (or that
// the first start ended without getting that far).
func (i *Instance) markDecoded() { i.decodedOnce.Do(func() { close(i.decoded) }) }

func newInstance(r *Runtime, s Spec) *Instance {
	ctx, cancel := context.WithCancel(context.Background())
	return &Instance{
		rt: r, spec: s, ctx: ctx, cancel: cancel,
		log:     r.log.With("instance", s.ID(), "plugin", s.Plugin),
		done:    make(chan struct{}),
		ready:   make(chan struct{}),
		decoded: make(chan struct{}),
		status: Status{ID: s.ID(), Name: s.Name, Kind: shared.KindName(s.Kind), Plugin: s.Plugin,
			Phase: PhaseStarting, Since: time.Now()},
	}
}

// ID is the instance's ID ("sink.siem").
func (i *Instance) ID() string { return i.spec.ID() }

// Spec is the instance's configuration.
func (i *Instance) Spec() Spec { return i.spec }

// Status reports the instance.
func (i *Instance) Status() Status {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.status
}

func (i *Instance) setPhaseLocked(p Phase, lastErr error) {
	if i.status.Phase != p {
		i.status.Phase, i.status.Since = p, time.Now()
	}
	if lastErr != nil {
		i.status.LastError = lastErr.Error()
	}
}

// running publishes pc as the instance's process.
func (i *Instance) running(pc *process) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.pc = pc
	i.gen++
	i.status.Generation = i.gen
	i.status.PID = pc.PID
	i.status.Version = pc.Info.GetVersion()
	i.status.Path = pc.plugin.Path
	i.status.Builtin = pc.plugin.Builtin
	i.setPhaseLocked(PhaseRunning, nil)
	close(i.ready)
	i.log.Info("plugin running", "pid", pc.PID, "version", i.status.Version, "generation", i.gen)
}

// gone withdraws the instance's process after it exited.
func (i *Instance) gone(p Phase, err error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.pc != nil {
		i.pc = nil
		i.ready = make(chan struct{})
	}
	i.status.PID = 0
	i.setPhaseLocked(p, err)
}

// supervise runs the instance until stop: it watches the running process
// and restarts it with backoff when it exits or fails its health checks.
// pc is the (published) process Start launched, or nil if it failed.
func (i *Instance) supervise(pc *process) {
	defer close(i.done)
	failures := 0
	for {
		if pc != nil {
			started := time.Now()
			err := i.watch(pc)
			pc.Stop()
			if i.ctx.Err() != nil {
				i.gone(PhaseStopping, nil)
				return
			}
			i.log.Error("plugin stopped unexpectedly; restarting", "error", err)
			i.gone(PhaseBackoff, err)
			if time.Since(started) > stableAfter {
				failures = 0
			}
		}
		failures++
		select {
		case <-time.After(i.backoff(failures)):
		case <-i.ctx.Done():
			return
		}
		i.mu.Lock()
		i.status.Restarts++
		i.setPhaseLocked(PhaseStarting, nil)
		i.mu.Unlock()
		ctx, cancel := context.WithTimeout(i.ctx, i.rt.opts.StartTimeout+3*i.rt.opts.CallTimeout)
		p, diags, err := i.rt.launch(ctx, i.spec, false, nil)
		cancel()
		if err == nil && diags.HasErrors() {
			err = diags
		}
		if err != nil {
			if i.ctx.Err() != nil {
				return
			}
			i.log.Error("plugin restart failed", "error", err, "attempt", failures)
			i.gone(PhaseBackoff, err)
			continue
		}
		pc = p
		i.running(pc)
	}
}

// backoff is the delay before restart attempt n (1, 2, ...): exponential
// from MinBackoff, capped at MaxBackoff, with jitter over its upper half.
func (i *Instance) backoff(n int) time.Duration {
	d := i.rt.opts.MinBackoff
	for range min(n-1, 30) {
		d *= 2
		if d >= i.rt.opts.MaxBackoff {
			d = i.rt.opts.MaxBackoff
			break
		}
	}
	return d/2 + rand.N(d/2+1)
}

// watch blocks until pc exits, stops answering its health checks, or the
// instance is stopped.
func (i *Instance) watch(pc *process) error {
	health := grpc_health_v1.NewHealthClient(pc.Conn.GRPC)
	tick := time.NewTicker(i.rt.opts.LivenessInterval)
	defer tick.Stop()
	failed := 0
	for {
		select {
		case <-pc.Exited():
			return errors.New("plugin process exited: " + pc.ExitStatus())
		case <-i.ctx.Done():
			return nil
		case <-tick.C:
			ctx, cancel := i.rt.callCtx(i.ctx)
			_, err := health.Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: "plugin"})
			cancel()
			if err == nil {
				failed = 0
				continue
			}
			if failed++; failed >= livenessFailures {
				// A graceful stop would wait for a process that does
				// not answer.
				pc.Abort()
				return fmt.Errorf("plugin stopped answering its health checks: %w", proc.CallError(err))
			}
		}
	}
}

// stop ends supervision, asks the running process to shut down within ctx
// and stops it.
func (i *Instance) stop(ctx context.Context) error {
	i.mu.Lock()
	pc := i.pc
	i.setPhaseLocked(PhaseStopping, nil)
	i.mu.Unlock()
	var err error
	if pc != nil {
		err = shutdown(ctx, pc)
	}
	i.cancel()
	<-i.done
	if pc != nil {
		pc.Stop()
	}
	i.gone(PhaseStopped, nil)
	if err != nil {
		err = fmt.Errorf("%s: shutdown: %w", i.spec.ID(), proc.CallError(err))
	}
	return err
}

// conn waits until the instance has a running process.
func (i *Instance) conn(ctx context.Context) (*process, uint64, error) {
	for {
		i.mu.Lock()
		pc, gen, ready, phase := i.pc, i.gen, i.ready, i.status.Phase
		i.mu.Unlock()
		if phase == PhaseStopping || phase == PhaseStopped {
			return nil, 0, ErrStopped
		}
		if pc != nil {
			return pc, gen, nil
		}
		select {
		case <-ready:
		case <-i.ctx.Done():
			return nil, 0, ErrStopped
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
}
