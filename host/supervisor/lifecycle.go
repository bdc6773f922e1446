package supervisor

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/backend"
	"github.com/argusmcp/argus/host/catalog"
	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/events"
	"github.com/argusmcp/argus/host/health"
	"github.com/argusmcp/argus/host/relay"
)

// Start begins connecting every backend, concurrently and in the
// background, and returns at once: the gateway serves (and lists what is
// connected) while slow or unreachable backends are still connecting.
// Each backend's first attempt has its own connect_timeout and retries;
// after it, the backend is supervised for the life of the gateway: health
// checks, withdrawal of a failed backend's capabilities, and reconnection
// with exponential backoff.
//
// Start-up is done when every backend's first attempt has ended
// (StartupDone); Starting lists those still running. A backend that could
// not be reached is logged, marked Failed and retried; the others serve.
// Capabilities that conflict under the "error" strategy during start-up
// make the configuration unservable: StartupErr reports them. ctx bounds
// the first attempts (Close ends them too).
func (sv *Supervisor) Start(ctx context.Context) error {
	sv.startedAt = time.Now()
	sv.mu.Lock()
	lbs := make([]*liveBackend, 0, len(sv.cfg.Backends))
	for _, bc := range sv.cfg.Backends {
		lb := sv.newLiveBackendLocked(bc)
		lb.firstSince = sv.startedAt
		sv.backends[bc.Name] = lb
		lbs = append(lbs, lb)
	}
	sv.mu.Unlock()
	sv.pending.Store(int64(len(lbs)))
	if len(lbs) == 0 {
		close(sv.startup)
	}
	for _, lb := range lbs {
		sv.wg.Go(func() {
			conn, err := sv.connect(ctx, lb, true)
			var ce *catalog.ConflictError
			switch {
			case errors.As(err, &ce):
				sv.startMu.Lock()
				sv.startErr = errors.Join(sv.startErr, err)
				sv.startMu.Unlock()
			case err != nil && !errors.Is(err, errStopped):
				sv.log.Error("backend unavailable; serving without it and retrying in the background", "backend", lb.cfg.Name, "error", err)
			}
			lb.mu.Lock()
			lb.firstDone = true
			lb.mu.Unlock()
			sv.run(lb, conn)
			if sv.pending.Add(-1) == 0 {
				sv.finishStartup()
			}
		})
	}
	return nil
}

// finishStartup marks start-up done, once every first attempt has ended.
func (sv *Supervisor) finishStartup() {
	snap := sv.catalog.Snapshot()
	if err := sv.StartupErr(); err != nil {
		sv.log.Error("start-up failed: capabilities conflict", "error", err)
	} else if n := len(sv.cfg.Backends); n > 0 && len(snap.Tools())+len(snap.Resources())+len(snap.Prompts()) == 0 {
		sv.log.Warn("no backend capabilities are available", "backends", n)
	}
	sv.log.Info("start-up finished", "elapsed", time.Since(sv.startedAt).Round(time.Millisecond))
	close(sv.startup)
}

// StartupDone is closed once every backend's first connection attempt
// (with its retries) has ended, successfully or not.
func (sv *Supervisor) StartupDone() <-chan struct{} { return sv.startup }

// StartupErr reports capabilities that conflicted under the "error"
// strategy during start-up; the configuration cannot be served then.
// Meaningful once StartupDone is closed.
func (sv *Supervisor) StartupErr() error {
	sv.startMu.Lock()
	defer sv.startMu.Unlock()
	return sv.startErr
}

// Starting describes the backends whose first connection attempt is
// still running, in configuration order, e.sv. `backend "slow": connecting
// for 4.2s`; empty once start-up is done.
func (sv *Supervisor) Starting() []string {
	var out []string
	for _, lb := range sv.ordered() {
		lb.mu.Lock()
		first, since := !lb.firstDone && !lb.firstSince.IsZero(), lb.firstSince
		lb.mu.Unlock()
		if first {
			out = append(out, fmt.Sprintf("backend %q: connecting for %s", lb.cfg.Name, time.Since(since).Round(100*time.Millisecond)))
		}
	}
	return out
}

// run supervises lb and runs its health checks in the background, from
// the outcome of its first connection attempt (conn is nil if it failed).
func (sv *Supervisor) run(lb *liveBackend, conn *backend.Conn) {
	sv.wg.Go(func() { sv.supervise(lb, conn) })
	sv.wg.Go(func() { sv.check(lb) })
}

// errStopped is a connection attempt abandoned because its backend was
// removed or the gateway is closing.
var errStopped = errors.New("backend stopped")

// connect brings lb's shared session up. It is the one sequence used at
// start-up, on reload and on every reconnection: dial (retrying per
// connect_retries when retry is set), list the inventory, put it into the
// catalogue, mark the backend Ready and send list_changed to clients. On
// failure nothing of the attempt remains: the session is closed, the
// backend is marked Failed with the reason (unless it was stopped:
// errStopped), and the error is returned. ctx bounds the attempt besides
// the backend's own life.
func (sv *Supervisor) connect(ctx context.Context, lb *liveBackend, retry bool) (*backend.Conn, error) {
	start := time.Now()
	sv.transition(lb, health.EventStart, "connecting")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(lb.ctx, cancel)
	defer stop()
	conn, inv, change, err := sv.attach(ctx, lb, retry)
	if err != nil {
		if lb.ctx.Err() != nil {
			return nil, errStopped
		}
		lb.conds.Set(health.CondConnected, false, "ConnectFailed", err.Error())
		sv.transition(lb, health.EventConnectFail, err.Error())
		return nil, err
	}
	lb.shared.Log().Info("backend connected", "type", lb.cfg.Type, "protocol", conn.ProtocolVersion(), "elapsed", time.Since(start).Round(time.Millisecond),
		"tools", len(inv.Tools), "resources", len(inv.Resources), "templates", len(inv.Templates), "prompts", len(inv.Prompts))
	sv.markConnected(lb, conn)
	sv.onChange(change)
	return conn, nil
}

// attach dials lb, lists it and publishes its inventory; on error the
// session is closed.
func (sv *Supervisor) attach(ctx context.Context, lb *liveBackend, retry bool) (*backend.Conn, *catalog.Inventory, catalog.Change, error) {
	dial := backend.Dial
	if retry {
		dial = backend.DialRetry
	}
	opts := lb.shared.Options(lb.signalRefresh)
	opts.Pool = lb.pool
	conn, err := dial(ctx, lb.cfg, opts)
	if err != nil {
		return nil, nil, catalog.Change{}, err
	}
	inv, err := inventory(ctx, conn)
	if err != nil {
		conn.Close()
		return nil, nil, catalog.Change{}, err
	}
	change, err := sv.publish(lb, inv)
	if err != nil {
		conn.Close()
		return nil, nil, catalog.Change{}, err
	}
	return conn, inv, change, nil
}

// publish puts lb's inventory into the catalogue, unless lb was stopped
// (removed by a reload, or the gateway is closing): a late connection of
// a removed backend must not overwrite its successor of the same name.
func (sv *Supervisor) publish(lb *liveBackend, inv *catalog.Inventory) (catalog.Change, error) {
	sv.catMu.Lock()
	defer sv.catMu.Unlock()
	if lb.ctx.Err() != nil {
		return catalog.Change{}, errStopped
	}
	change, conflicts, err := sv.catalog.Set(inv)
	sv.logConflicts(conflicts)
	return change, err
}

// withdraw removes lb's capabilities from the catalogue, unless lb was
// stopped (stopBackend withdrew them, and a successor may own the name).
func (sv *Supervisor) withdraw(lb *liveBackend) catalog.Change {
	sv.catMu.Lock()
	defer sv.catMu.Unlock()
	if lb.ctx.Err() != nil {
		return catalog.Change{}
	}
	return sv.catalog.Remove(lb.cfg.Name)
}

// newLiveBackendLocked is newLiveBackend for callers holding sv.mu.
func (sv *Supervisor) newLiveBackendLocked(bc config.Backend) *liveBackend {
	return sv.newLiveBackendWith(bc, sv.cfg.Health)
}

// poolLinger is how long after a backend's removal its HTTP connections
// are closed once more: its sessions' closing requests (DELETE, the rest
// of a stream read away) are done by then.
const poolLinger = 5 * time.Second

func (sv *Supervisor) newLiveBackendWith(bc config.Backend, h config.Health) *liveBackend {
	lb := &liveBackend{
		cfg: bc, refresh: make(chan struct{}, 1), clients: map[*mcp.ServerSession]*clientLink{},
		phase: health.Pending, since: time.Now(),
		reconnect: make(chan struct{}, 1), unhealthy: make(chan struct{}, 1),
	}
	lb.ctx, lb.cancel = context.WithCancel(sv.ctx)
	if bc.Type != config.TypeStdio {
		lb.pool = backend.NewPool()
		// Removed, or the gateway closed: its sessions close over the
		// next moments, their last requests putting connections back.
		context.AfterFunc(lb.ctx, func() {
			lb.pool.CloseIdle()
			time.AfterFunc(poolLinger, lb.pool.CloseIdle)
		})
	}
	lb.tracker.Rules = health.Rules{DegradedLatency: h.DegradedLatency, FailureThreshold: h.FailureThreshold}
	lb.shared = relay.New(sv.relay, bc, nil)
	lb.propagation.Store(&bc.TracePropagation)
	return lb
}

func inventory(ctx context.Context, conn *backend.Conn) (*catalog.Inventory, error) {
	ctx, cancel := context.WithTimeout(ctx, conn.Config().ConnectTimeout)
	defer cancel()
	return conn.Inventory(ctx)
}

func (sv *Supervisor) logConflicts(conflicts []catalog.Conflict) {
	for _, c := range conflicts {
		sv.log.Warn("capability name conflict", "detail", c.String())
	}
}

// transition moves lb's phase on e and records the change as an event.
// Invalid events are ignored (they can race with a concurrent change:
// a check result arriving just after the session was lost).
func (sv *Supervisor) transition(lb *liveBackend, e health.Event, msg string) {
	lb.mu.Lock()
	from := lb.phase
	to, err := health.Next(from, e)
	if err != nil {
		lb.mu.Unlock()
		sv.log.Trace("lifecycle event ignored", "backend", lb.cfg.Name, "error", err)
		return
	}
	lb.phase = to
	if to != from {
		lb.since = time.Now()
	}
	if to == health.Failed {
		lb.lastErr = msg
	} else if to == health.Ready {
		lb.lastErr = ""
	}
	lb.mu.Unlock()
	if to == from {
		return
	}
	sev := events.Info
	switch to {
	case health.Failed:
		sev = events.Error
	case health.Degraded:
		sev = events.Warning
	}
	sv.events.Emit(sev, "phase", lb.cfg.Name, fmt.Sprintf("%s -> %s: %s", from, to, msg),
		map[string]any{"from": string(from), "to": string(to), "event": string(e)})
	switch sev {
	case events.Error:
		sv.log.Error("backend phase changed", "backend", lb.cfg.Name, "from", from, "to", to, "reason", msg)
	case events.Warning:
		sv.log.Warn("backend phase changed", "backend", lb.cfg.Name, "from", from, "to", to, "reason", msg)
	default:
		sv.log.Info("backend phase changed", "backend", lb.cfg.Name, "from", from, "to", to, "reason", msg)
	}
}

func (sv *Supervisor) markConnected(lb *liveBackend, conn *backend.Conn) {
	lb.shared.SetConn(conn)
	lb.mu.Lock()
	lb.tracker = health.Tracker{Rules: lb.tracker.Rules}
	lb.mu.Unlock()
	lb.conds.Set(health.CondConnected, true, "Connected", "session established, protocol "+conn.ProtocolVersion())
	lb.conds.Set(health.CondServing, true, "InCatalogue", "capabilities are served")
	sv.transition(lb, health.EventConnected, "connected")
}

// why a connection stopped being served.
type why int

const (
	whyLost why = iota
	whyUnhealthy
	whyReconnect
	whyStop
)

// supervise owns lb's shared connection for the gateway's life: it serves
// conn until it is lost, found unhealthy or a reconnect is requested, then
// withdraws the backend's capabilities and reconnects with exponential,
// jittered backoff until it succeeds or the backend is stopped.
func (sv *Supervisor) supervise(lb *liveBackend, conn *backend.Conn) {
	backoff := lb.cfg.RetryBackoff
	delay := backoff
	for {
		if conn != nil {
			w := sv.serve(lb, conn)
			lb.shared.SetConn(nil)
			if w == whyStop {
				conn.Close()
				return
			}
			lb.conds.Set(health.CondServing, false, "Withdrawn", "capabilities withdrawn from the catalogue")
			sv.onChange(sv.withdraw(lb))
			switch w {
			case whyLost:
				msg := "session ended"
				if err := conn.Err(); err != nil {
					msg += ": " + err.Error()
				}
				lb.conds.Set(health.CondConnected, false, "SessionLost", msg)
				sv.transition(lb, health.EventLost, msg)
				delay = backoff
			case whyUnhealthy:
				lb.mu.Lock()
				msg := fmt.Sprintf("%d consecutive failed health checks: %s", lb.tracker.ConsecutiveFailures, lb.tracker.Last.Message)
				lb.mu.Unlock()
				lb.conds.Set(health.CondConnected, false, "Unhealthy", msg)
				sv.transition(lb, health.EventUnhealthy, msg)
				delay = backoff
			case whyReconnect:
				sv.transition(lb, health.EventReconnect, "reconnect requested")
				delay = 0
			}
			conn.Close()
			conn = nil
		}

		if delay > 0 {
			wait := delay/2 + rand.N(delay/2+1)
			select {
			case <-time.After(wait):
			case <-lb.reconnect:
			case <-lb.ctx.Done():
				return
			}
		}
		sv.transition(lb, health.EventReconnect, "reconnecting")
		sv.events.Emit(events.Info, "reconnect", lb.cfg.Name, "reconnect attempt", nil)
		c, err := sv.connect(lb.ctx, lb, false)
		if errors.Is(err, errStopped) {
			return
		}
		if err == nil {
			conn, delay = c, backoff
			continue
		}
		delay = min(max(delay*2, backoff), config.DefaultReconnectMax)
	}
}

// serve keeps conn in service, re-listing the backend on list_changed,
// until something ends its service.
func (sv *Supervisor) serve(lb *liveBackend, conn *backend.Conn) why {
	for {
		select {
		case <-conn.Done():
			if lb.ctx.Err() != nil {
				return whyStop
			}
			return whyLost
		case <-lb.unhealthy:
			return whyUnhealthy
		case <-lb.reconnect:
			return whyReconnect
		case <-lb.ctx.Done():
			return whyStop
		case <-lb.refresh:
			inv, err := inventory(lb.ctx, conn)
			if err != nil {
				lb.shared.Log().Warn("re-listing after list_changed failed", "error", err)
				continue
			}
			change, err := sv.publish(lb, inv)
			if errors.Is(err, errStopped) {
				return whyStop
			}
			if err != nil {
				lb.shared.Log().Error("backend's new capabilities conflict; keeping the previous catalogue", "error", err)
				continue
			}
			sv.onChange(change)
		}
	}
}

// signalRefresh asks the supervisor to re-list the backend; signals coalesce.
func (lb *liveBackend) signalRefresh() { signal(lb.refresh) }

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default: // already pending
	}
}

// Reconnect drops backend name's session and connects it anew, at once.
func (sv *Supervisor) Reconnect(name string) error {
	sv.mu.RLock()
	lb := sv.backends[name]
	sv.mu.RUnlock()
	if lb == nil {
		return fmt.Errorf("no backend named %q", name)
	}
	sv.events.Emit(events.Info, "reconnect", name, "reconnect requested by an operator", nil)
	signal(lb.reconnect)
	return nil
}
