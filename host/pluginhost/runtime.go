package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"google.golang.org/grpc"

	"github.com/argusmcp/argus/host/logging"
	"github.com/argusmcp/argus/host/pluginhost/discovery"
	"github.com/argusmcp/argus/shared"
	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// Defaults of Options.
const (
	DefaultStartTimeout     = 10 * time.Second
	DefaultCallTimeout      = 10 * time.Second
	DefaultMinBackoff       = 250 * time.Millisecond
	DefaultMaxBackoff       = 30 * time.Second
	DefaultLivenessInterval = 10 * time.Second
)

// Options configure a Runtime.
type Options struct {
	// Catalog resolves plugin names. Required.
	Catalog *discovery.Catalog
	// Logger is the host's (redacting) logger. The runtime logs under
	// "plugins"; each instance's own log lines appear under
	// "plugin.<plugin>.<instance>" at their level. Default: no logging.
	Logger hclog.Logger
	// Secrets receives the values of sensitive plugin attributes, so they
	// are redacted from the log (plugin log lines included). May be nil.
	Secrets *logging.Secrets
	// HostServices register, per kind, the services the host offers that
	// kind's instances over the go-plugin broker (health probes reach
	// backends through probe.HostService). A kind without an entry gets
	// none: its SDK reports "no host service". Dry runs get none.
	HostServices map[pluginv1.Kind]func(*grpc.Server)
	// StartTimeout bounds a process's start up to the handshake. Default
	// DefaultStartTimeout.
	StartTimeout time.Duration
	// CallTimeout is the deadline of every call to a plugin whose context
	// has none (and of each step of starting one). Default
	// DefaultCallTimeout.
	CallTimeout time.Duration
	// MinBackoff and MaxBackoff bound the delay before restarting an
	// instance; it doubles with every failed start, with jitter. Defaults
	// DefaultMinBackoff, DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// LivenessInterval is how often a running plugin's health service is
	// checked; three failed checks in a row restart it. Default
	// DefaultLivenessInterval.
	LivenessInterval time.Duration
}

// Runtime starts and supervises plugin instances. Its methods are safe for
// concurrent use. Close stops everything it started.
type Runtime struct {
	opts Options
	log  hclog.Logger

	mu        sync.Mutex
	instances []*Instance
	starting  map[*Instance]time.Time // first starts by Launch still running
	closed    bool
}

// New returns a Runtime; it starts nothing yet.
func New(opts Options) *Runtime {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.Catalog == nil {
		opts.Catalog = discovery.NewCatalog()
	}
	setDefault(&opts.StartTimeout, DefaultStartTimeout)
	setDefault(&opts.CallTimeout, DefaultCallTimeout)
	setDefault(&opts.MinBackoff, DefaultMinBackoff)
	setDefault(&opts.MaxBackoff, DefaultMaxBackoff)
	setDefault(&opts.LivenessInterval, DefaultLivenessInterval)
	return &Runtime{opts: opts, log: opts.Logger.Named("plugins")}
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// callCtx bounds one step of starting a plugin.
func (r *Runtime) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.opts.CallTimeout)
}

// Validate starts the plugin of every spec, decodes its configuration and
// dry-runs its configure step, then stops it. Specs are checked
// concurrently; diagnostics come back in spec order. A plugin that cannot
// be run is an error diagnostic on its block.
func (r *Runtime) Validate(ctx context.Context, specs []Spec) hcl.Diagnostics {
	return forEach(specs, func(_ int, s Spec) hcl.Diagnostics {
		pc, diags, err := r.launch(ctx, s, true, nil)
		if pc != nil {
			pc.Stop()
		}
		if err != nil {
			diags = append(diags, startDiag(s, err))
		}
		return diags
	})
}

func startDiag(s Spec, err error) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Plugin failed to start",
		Detail:  fmt.Sprintf("%s %q %q: %v.", shared.KindBlock(s.Kind), s.Plugin, s.Name, err),
		Subject: s.DeclRange.Ptr()}
}

func forEach(specs []Spec, f func(int, Spec) hcl.Diagnostics) hcl.Diagnostics {
	out := make([]hcl.Diagnostics, len(specs))
	var wg sync.WaitGroup
	for i, s := range specs {
		wg.Go(func() { out[i] = f(i, s) })
	}
	wg.Wait()
	var diags hcl.Diagnostics
	for _, d := range out {
		diags = append(diags, d...)
	}
	return diags
}

// Start starts and configures an instance for every spec, concurrently,
// and supervises them until Close. Configuration problems are returned as
// diagnostics and their instances are not started (the caller should treat
// them like any configuration error). A plugin that cannot be run is
// logged; its instance stays in PhaseBackoff and is retried, so Start
// succeeds without it. Instance IDs must be unique.
func (r *Runtime) Start(ctx context.Context, specs []Spec) hcl.Diagnostics {
	started := make([]*Instance, len(specs))
	diags := forEach(specs, func(n int, s Spec) hcl.Diagnostics {
		i, d := r.startInstance(ctx, s)
		started[n] = i
		return d
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, i := range started {
		if i == nil {
			continue
		}
		if r.closed {
			go i.stop(context.Background())
			continue
		}
		r.instances = append(r.instances, i)
	}
	return diags
}

func (r *Runtime) startInstance(ctx context.Context, s Spec) (*Instance, hcl.Diagnostics) {
	i := newInstance(r, s)
	lctx, cancel := context.WithTimeout(ctx, r.opts.StartTimeout+3*r.opts.CallTimeout)
	pc, diags, err := r.launch(lctx, s, false, nil)
	cancel()
	i.markDecoded() // Start waits for the launch, so nothing is pending
	if diags.HasErrors() {
		return nil, diags
	}
	if pc != nil {
		i.running(pc)
	} else {
		i.log.Error("plugin failed to start; retrying with backoff", "error", err)
		i.gone(PhaseBackoff, err)
	}
	go i.supervise(pc)
	return i, diags
}

// Instance returns the instance with the given ID ("sink.siem"), or nil.
func (r *Runtime) Instance(id string) *Instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, i := range r.instances {
		if i.spec.ID() == id {
			return i
		}
	}
	return nil
}

// Instances lists the started instances in the order they were given.
func (r *Runtime) Instances() []*Instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.instances)
}

// Status reports every instance.
func (r *Runtime) Status() []Status {
	var out []Status
	for _, i := range r.Instances() {
		s := i.Status()
		if s.Path != "" {
			s.SHA256, _ = discovery.SHA256Of(s.Path)
		}
		out = append(out, s)
	}
	return out
}

// Close stops every instance: each is asked to shut down (sinks flush)
// within ctx, then its process is stopped, by force if need be. Close
// returns once every plugin process is gone, or when ctx ends: an
// instance still starting then (go-plugin's wait for a handshake cannot
// be cancelled) is reported and left to its own stop, which follows
// when its start gives up; on Linux the kernel kills it when Argus exits.
// It is safe to call more than once and without Start.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	instances := r.instances
	r.instances = nil
	r.mu.Unlock()
	var (
		mu   sync.Mutex
		errs []error
		left = map[*Instance]bool{}
	)
	for _, i := range instances {
		left[i] = true
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, i := range instances {
		wg.Go(func() {
			err := i.stop(ctx)
			mu.Lock()
			defer mu.Unlock()
			delete(left, i)
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	mu.Lock()
	defer mu.Unlock()
	for _, i := range instances {
		if left[i] {
			errs = append(errs, fmt.Errorf("%s: not stopped before the shutdown deadline (phase %s)", i.ID(), i.Status().Phase))
		}
	}
	return errors.Join(errs...)
}

// Info is what a plugin says about itself.
type Info struct {
	Name     string
	Version  string
	Kinds    []string // "audit_sink", "telemetry_exporter", "health_probe"
	Protocol int
}

// Describe starts p, asks for its info and stops it.
func (r *Runtime) Describe(ctx context.Context, p discovery.Plugin) (Info, error) {
	cctx, cancel := context.WithTimeout(ctx, r.opts.StartTimeout+r.opts.CallTimeout)
	defer cancel()
	pc, err := r.start(cctx, p, "plugin."+p.Name)
	if err != nil {
		return Info{}, err
	}
	defer pc.Stop()
	info := Info{Name: pc.Info.GetName(), Version: pc.Info.GetVersion(), Protocol: int(pc.Info.GetProtocolVersion())}
	for _, k := range pc.Info.GetKinds() {
		info.Kinds = append(info.Kinds, shared.KindName(k))
	}
	return info, nil
}

// String is "name version (kinds)".
func (i Info) String() string {
	return fmt.Sprintf("%s %s (%s)", i.Name, i.Version, strings.Join(i.Kinds, ", "))
}
