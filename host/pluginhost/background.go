package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Launch is Start without the wait: it registers an instance for every
// spec at once (Instances lists them, in PhaseStarting) and starts them
// concurrently in the background. A plugin that is slow to start, or
// hangs in its New, delays nothing but its own users, who wait for it
// (Instance.Conn, and the kinds' clients built on it, wait within
// their context).
//
// The returned channel receives the diagnostics of every instance's first
// start once all have ended, and is then closed. An instance whose
// configuration has errors is stopped (PhaseStopped, LastError set); the
// caller should treat them like any configuration error. A plugin that
// cannot be run is retried with backoff, as with Start. Close stops every
// instance, those still starting included, without waiting for their
// start to time out.
func (r *Runtime) Launch(ctx context.Context, specs []Spec) <-chan hcl.Diagnostics {
	_, out := r.LaunchInstances(ctx, specs)
	return out
}

// LaunchInstances is Launch that also returns the new instances, in spec
// order (for a reload that adds instances beside running ones).
func (r *Runtime) LaunchInstances(ctx context.Context, specs []Spec) ([]*Instance, <-chan hcl.Diagnostics) {
	out := make(chan hcl.Diagnostics, 1)
	instances := make([]*Instance, len(specs))
	r.mu.Lock()
	if r.starting == nil {
		r.starting = map[*Instance]time.Time{}
	}
	for n, s := range specs {
		i := newInstance(r, s)
		instances[n] = i
		if !r.closed {
			r.instances = append(r.instances, i)
			r.starting[i] = time.Now()
		}
	}
	closed := r.closed
	r.mu.Unlock()
	if closed {
		out <- nil
		close(out)
		return nil, out
	}
	go func() {
		out <- forEach(specs, func(n int, s Spec) hcl.Diagnostics {
			i := instances[n]
			diags := r.firstStart(ctx, i)
			r.mu.Lock()
			delete(r.starting, i)
			r.mu.Unlock()
			return diags
		})
		close(out)
	}()
	return instances, out
}

// Stop stops one instance the way Close stops them all (a sink flushes
// within ctx, then its process is stopped) and removes it from the
// runtime, for a reload that removes or replaces it.
func (r *Runtime) Stop(ctx context.Context, i *Instance) error {
	r.mu.Lock()
	r.instances = slices.DeleteFunc(r.instances, func(x *Instance) bool { return x == i })
	r.mu.Unlock()
	return i.stop(ctx)
}

// firstStart launches i's first process within ctx and i's own life, then
// hands i to its supervisor.
func (r *Runtime) firstStart(ctx context.Context, i *Instance) hcl.Diagnostics {
	lctx, cancel := context.WithTimeout(ctx, r.opts.StartTimeout+3*r.opts.CallTimeout)
	stop := context.AfterFunc(i.ctx, cancel)
	pc, diags, err := r.launch(lctx, i.spec, false, i.markDecoded)
	stop()
	cancel()
	i.markDecoded()
	switch {
	case diags.HasErrors():
		i.cancel()
		i.gone(PhaseStopped, errors.New(diags.Errs()[0].Error()))
		close(i.done)
		return diags
	case pc != nil:
		i.running(pc)
	case i.ctx.Err() == nil:
		i.log.Error("plugin failed to start; retrying with backoff", "error", err)
		i.gone(PhaseBackoff, err)
	}
	go i.supervise(pc)
	return diags
}

// Starting lists the instances whose first start (by Launch) is still
// running, e.g. `plugin "sink.siem": starting for 2.1s`, filtered by
// keep (nil keeps all).
func (r *Runtime) Starting(keep func(*Instance) bool) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, i := range r.instances {
		since, ok := r.starting[i]
		if ok && (keep == nil || keep(i)) {
			out = append(out, fmt.Sprintf("plugin %q: starting for %s", i.ID(), time.Since(since).Round(100*time.Millisecond)))
		}
	}
	return out
}

// SecretsKnown is closed once every instance registered by Launch has had
// its configuration read against its plugin's schema (or its first start
// has ended without that), so that the values of its sensitive attributes
// are in Options.Secrets. Output that could echo such a value (a call's
// audit record or log line) waits for it; the wait is bounded by each
// plugin's start timeout.
func (r *Runtime) SecretsKnown() <-chan struct{} {
	r.mu.Lock()
	pending := make([]chan struct{}, 0, len(r.instances))
	for _, i := range r.instances {
		pending = append(pending, i.decoded)
	}
	r.mu.Unlock()
	out := make(chan struct{})
	go func() {
		for _, ch := range pending {
			<-ch
		}
		close(out)
	}()
	return out
}
