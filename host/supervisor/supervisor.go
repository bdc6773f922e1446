// Package supervisor keeps a gateway's backends connected and healthy: it
// connects each configured backend (at start-up, on reload, and again
// whenever its session is lost or found unhealthy, with backoff), runs its
// health checks, moves it through the lifecycle phases of package health,
// and feeds the catalogue with what each connected backend offers. It
// applies reloaded configurations (Apply) and reports every backend's
// state (Backends).
//
// The router asks it for one thing: the link a call to backend X goes
// over (Link). Data flows one way: supervision feeds the catalogue and the
// links; the router reads both.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/backend"
	"github.com/argusmcp/argus/host/catalog"
	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/events"
	"github.com/argusmcp/argus/host/health"
	"github.com/argusmcp/argus/host/relay"
	"github.com/argusmcp/argus/host/request"
	"github.com/argusmcp/argus/host/revision"
)

// Options configure a Supervisor.
type Options struct {
	// Catalog is the catalogue the supervisor fills; the router reads it.
	Catalog *catalog.Catalog
	// OnChange is told about every change to the catalogue, to send
	// list_changed to clients. Required.
	OnChange func(catalog.Change)
	// Relay is what the backend links relay to (package relay).
	Relay relay.Env
	// Probes check backend health: the health probe plugin instances.
	// Empty: no health checks run.
	Probes []Prober
	// Events receives lifecycle and health events; nil keeps none.
	Events *events.Log
}

// Supervisor runs the backends of one gateway. Start connects them,
// Stop and Wait end them. All methods are safe for concurrent use.
type Supervisor struct {
	cfg      *config.Config // in force; replaced by Apply (guarded by mu)
	boot     *config.Config // as given to New: the settings only a restart changes
	log      hclog.Logger
	catalog  *catalog.Catalog
	onChange func(catalog.Change)
	relay    relay.Env

	mu       sync.RWMutex
	backends map[string]*liveBackend
	closed   bool
	wg       sync.WaitGroup

	// ctx is cancelled by Stop: it ends every backend's connection
	// attempts and supervision.
	ctx    context.Context
	cancel context.CancelFunc
	// catMu orders catalogue updates against the removal of a backend, so
	// a removed backend's late connection cannot publish its inventory.
	catMu sync.Mutex

	probes    []Prober // guarded by mu; replaced by SetProbes
	events    *events.Log
	startedAt time.Time
	startup   chan struct{} // closed when every first connection attempt has ended
	pending   atomic.Int64  // first connection attempts still running
	startMu   sync.Mutex
	startErr  error // conflicts under the "error" strategy at start-up

	// ends holds, per client session with a per-client link, the channel
	// closed when it ends (sessionEnd); guarded by endsMu.
	endsMu sync.Mutex
	ends   map[*mcp.ServerSession]chan struct{}
}

// New returns a Supervisor for the backends of cfg. It connects nothing
// yet.
func New(cfg *config.Config, log hclog.Logger, opts Options) *Supervisor {
	sv := &Supervisor{
		cfg:      cfg,
		boot:     cfg,
		log:      log,
		catalog:  opts.Catalog,
		onChange: opts.OnChange,
		relay:    opts.Relay,
		backends: map[string]*liveBackend{},
		startup:  make(chan struct{}),
		probes:   opts.Probes,
		events:   opts.Events,
	}
	sv.ctx, sv.cancel = context.WithCancel(context.Background())
	if sv.events == nil {
		sv.events = events.New(0)
	}
	return sv
}

// liveBackend is one configured backend: its shared link (used for the
// catalogue, and for calls unless the backend is per-client) and the
// per-client links of session_mode = "per-client".
type liveBackend struct {
	cfg config.Backend
	// propagation is cfg's trace_propagation as in force: a reload that
	// changes only it applies it here, without restarting the backend.
	propagation atomic.Pointer[string]
	shared      *relay.Link
	refresh     chan struct{} // coalesced list_changed signals
	// pool is the HTTP connections of every session to the backend
	// (shared and per-client); nil for a stdio backend.
	pool *backend.Pool

	clientMu sync.Mutex
	clients  map[*mcp.ServerSession]*clientLink
	// closing counts the per-client links taken out of clients whose
	// backend sessions (for stdio, processes) are still closing: they
	// hold their max_clients slot until closed.
	closing   int
	slotFreed chan struct{} // closed (and replaced) when a slot is let go
	capWarned atomic.Int64  // unix nanoseconds of the last logged max_clients refusal
	// perCallWarned: it was logged that a stateless client's calls each
	// open their own backend session here (once per backend).
	perCallWarned atomic.Bool

	// Lifecycle and health (lifecycle.go).
	mu         sync.Mutex
	firstSince time.Time // start of the first attempt at start-up; zero for backends added later
	firstDone  bool      // the first attempt at start-up has ended
	phase      health.Phase
	since      time.Time // when phase was entered
	lastErr    string
	conds      health.Conditions
	tracker    health.Tracker
	checks     health.History // latency history, kept across reconnects
	reconnect  chan struct{}  // operator asked for a reconnect; coalesced
	unhealthy  chan struct{}  // the checker's verdict; coalesced

	// ctx is cancelled when the backend is removed or the gateway
	// closes; it bounds every connection attempt and goroutine of lb.
	ctx    context.Context
	cancel context.CancelFunc
}

// clientLink is a per-client link that may still be connecting.
type clientLink struct {
	ready chan struct{} // closed once l is connected or err is set
	l     *relay.Link
	err   error
	// lastUsed is when the link was last handed to a request or seen busy;
	// guarded by liveBackend.clientMu.
	lastUsed time.Time
	// retired: taken out of clients to be closed (liveBackend.retire);
	// guarded by liveBackend.clientMu.
	retired bool
}

// Link returns the link a call from session ss to backend name goes over:
// the shared one, or for a per-client backend the session's own, dialled
// on first use and closed when the session ends or has been idle for the
// backend's idle_timeout. A per-client backend has at most max_clients
// links; a session beyond them waits up to slotWait for one to be let go,
// then gets a CodeLimitReached error.
func (sv *Supervisor) Link(ctx context.Context, ss *mcp.ServerSession, name string) (*relay.Link, error) {
	sv.mu.RLock()
	lb, closed := sv.backends[name], sv.closed
	sv.mu.RUnlock()
	if lb == nil || closed {
		return nil, fmt.Errorf("backend %q is not running", name)
	}
	if lb.cfg.SessionMode != config.SessionPerClient || ss == nil {
		if lb.shared.Conn() == nil {
			return nil, fmt.Errorf("backend %q is unavailable", name)
		}
		return lb.shared, nil
	}
	lb.clientMu.Lock()
	cl := lb.clients[ss]
	if max := lb.cfg.MaxClients; cl == nil && max > 0 {
		err := lb.awaitSlot(ctx, ss, max) // unlocks while it waits
		if err != nil {
			lb.clientMu.Unlock()
			if err != errNoSlot {
				return nil, err // the call ended, or the backend was removed
			}
			if now, last := time.Now().UnixNano(), lb.capWarned.Load(); now-last >= int64(10*time.Second) && lb.capWarned.CompareAndSwap(last, now) {
				sv.log.Warn("refusing per-client backend sessions: max_clients reached (logged at most every 10s)", "backend", name, "max_clients", max, "session", ss.ID())
			}
			return nil, request.Errorf(request.OutcomeTransport, request.CodeLimitReached,
				"backend %q serves at most %d clients at once (max_clients); try again later", name, max)
		}
		cl = lb.clients[ss] // another request of ss may have made it meanwhile
	}
	if cl == nil {
		cl = &clientLink{ready: make(chan struct{}), lastUsed: time.Now()}
		lb.clients[ss] = cl
		lb.clientMu.Unlock()
		if revision.OneRequest(ss) && lb.perCallWarned.CompareAndSwap(false, true) {
			sv.log.Warn("a client of the stateless revision gets a backend session per call on this per-client backend (for stdio, a process per call); set session_mode = \"shared\" unless each call needs its own (logged once per backend)",
				"backend", name)
		}
		sv.dialClientLink(lb, ss, cl)
	} else {
		cl.lastUsed = time.Now()
		lb.clientMu.Unlock()
	}
	select {
	case <-cl.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if cl.err != nil {
		return nil, cl.err
	}
	return cl.l, nil
}

// slotWait is how long a call waits for one of a per-client backend's
// max_clients links to be let go before it is refused: a stateless
// client's link outlives the request that opened it by a moment (until
// its session is seen closed), and without the wait a client whose next
// call came at once was refused though it held no link any more.
const slotWait = time.Second

// slotsTaken is how many of max_clients are taken: per-client links, and
// those still closing. lb.clientMu must be held.
func (lb *liveBackend) slotsTaken() int { return len(lb.clients) + lb.closing }

// errNoSlot is awaitSlot's error when no slot was let go in time.
var errNoSlot = errors.New("no per-client slot within slotWait")

// awaitSlot waits, with lb.clientMu held on entry and on return, until lb
// has a slot free (at once, mostly) or a link for ss; it gives up after
// slotWait with errNoSlot, when ctx ends with ctx's error, and when the
// backend is removed.
func (lb *liveBackend) awaitSlot(ctx context.Context, ss *mcp.ServerSession, max int) error {
	var timeout <-chan time.Time
	for lb.slotsTaken() >= max && lb.clients[ss] == nil {
		if timeout == nil {
			timer := time.NewTimer(slotWait)
			defer timer.Stop()
			timeout = timer.C
		}
		if lb.slotFreed == nil {
			lb.slotFreed = make(chan struct{})
		}
		freed := lb.slotFreed
		lb.clientMu.Unlock()
		var err error
		select {
		case <-freed:
		case <-timeout:
			err = errNoSlot
		case <-ctx.Done():
			err = ctx.Err()
		case <-lb.ctx.Done():
			err = fmt.Errorf("backend %q is not running", lb.cfg.Name)
		}
		lb.clientMu.Lock()
		if err != nil {
			return err
		}
	}
	return nil
}

// dropClient removes ss's link cl, which has no backend session (its
// dial failed), from lb's per-client links and frees its slot.
// lb.clientMu must be held.
func (lb *liveBackend) dropClient(ss *mcp.ServerSession, cl *clientLink) {
	if lb.clients[ss] == cl {
		delete(lb.clients, ss)
	}
	lb.slotFree()
}

// retire takes ss's link cl out of lb's per-client links, so that no
// request is handed it any more, and counts it as closing: it keeps its
// slot until released reports its backend session closed, so that the
// backend never has more than max_clients sessions (processes) at once.
// Once per link. lb.clientMu must be held.
func (lb *liveBackend) retire(ss *mcp.ServerSession, cl *clientLink) {
	if cl.retired {
		return
	}
	cl.retired = true
	if lb.clients[ss] == cl {
		delete(lb.clients, ss)
	}
	lb.closing++
}

// released frees the slot of a retired link whose backend session is
// closed.
func (lb *liveBackend) released() {
	lb.clientMu.Lock()
	lb.closing--
	lb.slotFree()
	lb.clientMu.Unlock()
}

// slotFree wakes the calls waiting for a slot. lb.clientMu must be held.
func (lb *liveBackend) slotFree() {
	if lb.slotFreed != nil {
		close(lb.slotFreed)
		lb.slotFreed = nil
	}
}

// dialClientLink connects a per-client link and ties its life to the
// client session's.
func (sv *Supervisor) dialClientLink(lb *liveBackend, ss *mcp.ServerSession, cl *clientLink) {
	l := relay.New(sv.relay, lb.cfg, ss)
	opts := l.Options(nil)
	opts.Pool, opts.OneRequest = lb.pool, revision.OneRequest(ss)
	conn, err := backend.Dial(context.Background(), lb.cfg, opts)
	if err != nil {
		lb.clientMu.Lock()
		lb.dropClient(ss, cl) // the next call tries again
		lb.clientMu.Unlock()
		cl.err = err
		close(cl.ready)
		return
	}
	l.SetConn(conn)
	l.Log().Debug("per-client backend session opened", "session", ss.ID())
	cl.l = l
	close(cl.ready)
	sv.wg.Go(func() {
		var idle <-chan time.Time
		var timer *time.Timer
		if d := lb.cfg.IdleTimeout; d > 0 {
			timer = time.NewTimer(d)
			defer timer.Stop()
			idle = timer.C
		}
		sessionDone := sv.sessionEnd(ss)
		var drained <-chan time.Time // polls a stateless client's link for its calls' end
	wait:
		for {
			select {
			case <-conn.Done():
			case <-sessionDone:
				if revision.OneRequest(ss) && l.Busy() {
					// A session of the stateless revision lives for one
					// request, but a call it began may go on (waiting for
					// the client's input, SEP-2322, which a later request
					// brings over this link): the link closes once no call
					// is in flight. It keeps its max_clients slot until then.
					sessionDone = nil
					t := time.NewTicker(drainPoll)
					defer t.Stop()
					drained = t.C
					continue
				}
			case <-drained:
				if l.Busy() {
					continue
				}
			case <-lb.ctx.Done():
			case <-idle:
				if left := lb.reapIfIdle(ss, cl, lb.cfg.IdleTimeout); left > 0 {
					timer.Reset(left)
					continue
				}
				l.Log().Debug("per-client backend session idle; closing it", "session", ss.ID(), "idle_timeout", lb.cfg.IdleTimeout)
			}
			break wait
		}
		lb.clientMu.Lock()
		lb.retire(ss, cl)
		lb.clientMu.Unlock()
		conn.Close()
		lb.released()
		l.Log().Debug("per-client backend session closed", "session", ss.ID())
	})
}

// reapIfIdle retires cl (see retire) when it has had no
// request in flight for idle, and returns 0; otherwise it returns how long
// to wait before asking again. A link with requests in flight or resource
// subscriptions counts as used now.
func (lb *liveBackend) reapIfIdle(ss *mcp.ServerSession, cl *clientLink, idle time.Duration) time.Duration {
	lb.clientMu.Lock()
	defer lb.clientMu.Unlock()
	if cl.l.Busy() {
		cl.lastUsed = time.Now()
	}
	if left := idle - time.Since(cl.lastUsed); left > 0 {
		return left
	}
	lb.retire(ss, cl)
	return 0
}

// drainPoll is how often a stateless client's per-client link is checked
// for the end of its calls once the request that opened it is answered.
const drainPoll = 100 * time.Millisecond

// sessionEnd is closed when client session ss ends. One goroutine per
// client session waits for that, however many per-client links it opens
// and closes: a link reaped after idle_timeout and dialled again at the
// session's next call left one waiting for each, until the session ended
// (a goroutine per reap for a session that lives for days).
func (sv *Supervisor) sessionEnd(ss *mcp.ServerSession) <-chan struct{} {
	sv.endsMu.Lock()
	defer sv.endsMu.Unlock()
	if ch, ok := sv.ends[ss]; ok {
		return ch
	}
	if sv.ends == nil {
		sv.ends = map[*mcp.ServerSession]chan struct{}{}
	}
	ch := make(chan struct{})
	sv.ends[ss] = ch
	go func() {
		ss.Wait()
		sv.endsMu.Lock()
		delete(sv.ends, ss)
		sv.endsMu.Unlock()
		close(ch)
	}()
	return ch
}

// TracePropagation is what of a trace context backend name is sent
// (config.PropagateAll, PropagateTrace or PropagateNone), as the latest
// reload set it. For a backend no longer running (a reload removed it
// while a call to it was under way) it is fallback: the setting of the
// connection the call uses, never more than that backend was allowed.
func (sv *Supervisor) TracePropagation(name, fallback string) string {
	sv.mu.RLock()
	lb := sv.backends[name]
	sv.mu.RUnlock()
	if lb == nil {
		return fallback
	}
	return lb.tracePropagation()
}

func (lb *liveBackend) tracePropagation() string {
	if p := lb.propagation.Load(); p != nil && *p != "" {
		return *p
	}
	return config.PropagateAll
}

// Links returns every connected link, shared and per-client.
func (sv *Supervisor) Links() []*relay.Link {
	sv.mu.RLock()
	defer sv.mu.RUnlock()
	var out []*relay.Link
	for _, name := range slices.Sorted(maps.Keys(sv.backends)) {
		lb := sv.backends[name]
		if lb.shared.Conn() != nil {
			out = append(out, lb.shared)
		}
		lb.clientMu.Lock()
		for _, cl := range lb.clients {
			select {
			case <-cl.ready:
				if cl.l != nil {
					out = append(out, cl.l)
				}
			default:
			}
		}
		lb.clientMu.Unlock()
	}
	return out
}

// Stop ends every backend: their connection attempts and supervision
// stop, and each supervisor closes its session (stopping a stdio process);
// Wait waits for that. Stop is safe to call more than once; it reports
// whether this call stopped the supervisor.
func (sv *Supervisor) Stop() bool {
	sv.mu.Lock()
	if sv.closed {
		sv.mu.Unlock()
		return false
	}
	sv.closed = true
	sv.cancel()
	lbs := slices.Collect(maps.Values(sv.backends))
	sv.mu.Unlock()
	for _, lb := range lbs {
		sv.transition(lb, health.EventStop, "gateway shutting down")
	}
	return true
}

// Wait waits until every backend goroutine has ended, or ctx ends.
func (sv *Supervisor) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { sv.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("closing backends: %w", ctx.Err())
	}
}

// PerClientBackends names the per-client backends with a link for ss.
func (sv *Supervisor) PerClientBackends(ss *mcp.ServerSession) []string {
	var out []string
	for _, lb := range sv.liveBackends() {
		lb.clientMu.Lock()
		if _, ok := lb.clients[ss]; ok {
			out = append(out, lb.cfg.Name)
		}
		lb.clientMu.Unlock()
	}
	return out
}
