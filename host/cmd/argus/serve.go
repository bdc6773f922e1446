package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/audit"
	"github.com/argusmcp/argus/host/catalog"
	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/events"
	"github.com/argusmcp/argus/host/gateway"
	"github.com/argusmcp/argus/host/logging"
	"github.com/argusmcp/argus/host/manage"
	"github.com/argusmcp/argus/host/request"
	"github.com/argusmcp/argus/host/transport"
)

func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	path := fs.String("config", "argus.hcl", "configuration file (default: ./argus.hcl, else the embedded example)")
	stdio := fs.Bool("stdio", false, "serve one MCP client on stdin/stdout instead of HTTP")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "config" })
	cfg, parser, err := loadConfigParser(ctx, *path, explicit, stderr)
	if err != nil {
		return err
	}

	// Every shutdown step (listener, gateway, audit drain, telemetry flush,
	// plugins) has its own bound inside server.shutdown_timeout.
	stopPlan := &shutdownPlan{total: cfg.Server.ShutdownTimeout}

	mgmtToken, mgmtSource, err := manage.ResolveToken(cfg.Management.Token)
	if err != nil {
		return errUser{err}
	}
	secrets := parser.Secrets() // also what stderr and diagnostics are redacted with
	secrets.Add(mgmtToken)
	logOpts := logging.Options{Level: cfg.Log.Level, Format: cfg.Log.Format, Output: stderr}
	log, err := logging.New(logOpts, secrets)
	if err != nil {
		return errUser{err}
	}
	logging.RouteGlobal(log)
	log.Info("starting argus", "version", version, "config", cfg.Filename, "backends", len(cfg.Backends))
	if mgmtToken == "" {
		log.Warn("no management token: only /manage/v1/health and /manage/v1/ready are served", "set", "management.token or $"+manage.TokenEnv)
	} else {
		log.Debug("management token configured", "source", mgmtSource)
	}

	// Listen first: start-up (backends connecting, plugins starting) runs
	// while the listener serves, and /manage/v1/ready answers 503 with
	// what it waits for until start-up is done.
	var ln net.Listener
	if !*stdio {
		if ln, err = net.Listen("tcp", cfg.Server.Listen); err != nil {
			return errUser{fmt.Errorf("listen on %s: %w", cfg.Server.Listen, err)}
		}
		defer ln.Close() // in case serving never starts; Shutdown closes it otherwise
	}

	probeHost := &gatewayBackends{}
	rt, pluginDiags, err := startPlugins(ctx, cfg, log, secrets, probeHost)
	if err != nil {
		return err
	}
	defer func() {
		// After the gateway (deferred below, so it closes first): sinks
		// flush what it recorded, and no plugin process survives.
		sctx, cancel := stopPlan.step(stepPlugins)
		defer cancel()
		if err := rt.Close(sctx); err != nil {
			log.Warn("stopping plugins", "error", err)
		}
	}()

	// Observers, in order: telemetry first, so the span is open while
	// audit records its trace_id/span_id. Shutdown runs in reverse:
	// gateway, audit (drains), telemetry (flushes), plugins.
	var observers []request.Observer
	// Calls wait until every plugin's sensitive values are known secrets,
	// so that no audit record or log line of a call can echo one unredacted.
	middlewares := []request.Middleware{request.Await(rt.SecretsKnown())}
	tel, scrape, err := startTelemetry(cfg, rt, log)
	if err != nil {
		return err
	}
	if tel != nil {
		observers = append(observers, tel.Observer())
		defer func() {
			sctx, cancel := stopPlan.step(stepTelemetry)
			defer cancel()
			if err := tel.Shutdown(sctx); err != nil {
				log.Warn("flushing telemetry", "error", err)
			}
		}()
	}
	pipe := startAudit(cfg, rt, log, logOpts, secrets)
	if pipe != nil {
		observers = append(observers, pipe.Observer())
		middlewares = append(middlewares, pipe.Gate())
		defer func() {
			sctx, cancel := stopPlan.step(stepAudit)
			defer cancel()
			if err := pipe.Close(sctx); err != nil {
				log.Error("audit events lost at shutdown", "error", err)
			}
		}()
	}

	evlog := events.New(0)
	gw := gateway.New(cfg, log, gateway.Options{Version: version, Events: evlog, Probes: probers(rt),
		Observers: observers, Middlewares: middlewares})
	probeHost.gw.Store(gw)
	if tel != nil {
		if err := registerMetrics(tel, gw, pipe, rt); err != nil {
			return err
		}
	}
	gw.Start(ctx) // returns at once; backends connect in the background
	defer func() {
		sctx, cancel := stopPlan.step(stepGateway)
		defer cancel()
		if err := gw.Close(sctx); err != nil {
			log.Warn("closing backends", "error", err)
		}
		log.Info("stopped")
	}()
	// startup ends serve on what start-up finds unservable: plugin
	// configuration errors, conflicting capabilities under "error".
	startup := startupChecks(pluginDiags, gw, parser, stderr)

	if *stdio {
		// One client, one session: it gets the catalogue once start-up is done.
		if err := <-startup; err != nil {
			return err
		}
		log.Info("serving MCP on stdio")
		err := gw.Server().Run(ctx, transport.Stdio(&mcp.StdioTransport{}))
		if err != nil && ctx.Err() == nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("stdio session: %w", err)
		}
		return nil
	}

	requiredSink := requiredSinks(cfg)
	starting := func() []string { return append(gw.Starting(), rt.Starting(requiredSink)...) }
	var reload func() (gateway.ReloadSummary, string, error)
	if explicit || cfg.Filename == *path {
		reload = newReloader(*path, cfg, gw, rt, secrets, log).reload
	}
	drainer := &drain{}
	mux := http.NewServeMux()
	mux.Handle(manage.Prefix+"/", manage.New(manage.Options{
		Gateway: gw, Catalog: gw.Catalog(), Events: evlog, Token: mgmtToken, Version: version,
		Started: gw.Started, Starting: starting, Draining: drainer.State,
		Reload: reload, Logger: log.Named("manage"), Redact: secrets.Redact,
		Plugins: func() any { return rt.Status() },
		Audit:   managementAudit(pipe),
		AuditStats: func() any {
			if pipe == nil {
				return []any{}
			}
			return pipe.Stats()
		},
		PanicsRecovered: gw.Panics().Count,
	}))
	if scrape != nil {
		mux.Handle("GET /metrics", scrape)
	}
	sessions := transport.NewSessionLimits(cfg.Server)
	if tel != nil {
		if err := sessions.RegisterMetrics(tel.Meter()); err != nil {
			return err
		}
	}
	mux.Handle("/mcp", transport.NewMCPHandler(transport.HTTPOptions{
		Server:          gw.Server(),
		Auth:            cfg.Auth,
		MaxRequestBytes: cfg.Server.MaxRequestBytes,
		SessionTimeout:  cfg.Server.SessionTimeout,
		Refuser:         gw,
		Logger:          log.Named("http"),
		TrustedProxies:  cfg.Server.TrustedProxies,
		Sessions:        sessions,
		Tool:            func(name string) (*mcp.Tool, bool) { return gw.Catalog().Snapshot().ToolDef(name) },
		Panics:          gw.Panics(),
	}))
	conns := &connTracker{states: map[net.Conn]http.ConnState{}}
	srv := transport.NewServer(drainer.Handler(mux), cfg.Server, log.Named("http").StandardLogger(nil))
	srv.ConnState = conns.track
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(transport.LimitListener(ln, cfg.Server.MaxConnections)) }()
	log.Info("listening", "mcp", fmt.Sprintf("http://%s/mcp", ln.Addr()), "management", fmt.Sprintf("http://%s%s", ln.Addr(), manage.Prefix))

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case err := <-errc:
			return fmt.Errorf("http server: %w", err)
		case err := <-startup:
			if err != nil {
				return err
			}
			startup = nil
			continue
		case <-hup:
			if reload == nil {
				log.Warn("SIGHUP ignored: no configuration file to reload")
				continue
			}
			if _, diags, err := reload(); err != nil {
				log.Error("reload failed; the running configuration stays", "error", err, "diagnostics", diags)
			}
			continue
		case <-ctx.Done():
		}
		break
	}
	// Out of rotation first, then the shutdown proper (whose own bounds
	// start only now).
	if err := drainer.Run(cfg.Server.DrainTimeout, errc, log); err != nil {
		return fmt.Errorf("http server: %w", err)
	}
	log.Info("shutting down")
	// Streaming responses keep connections open; end the MCP sessions
	// first so Shutdown does not wait for them.
	for ss := range gw.Server().Sessions() {
		ss.Close()
	}
	// Shutdown waits up to 5s for connections that never sent a request;
	// no request will come, so they are closed at once.
	conns.closeUnused()
	sctx, cancel := stopPlan.step(stepListener)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	return nil
}

// Shutdown steps, in the order they run.
const (
	stepListener  = iota // in-flight HTTP requests finish
	stepGateway          // backend sessions close
	stepAudit            // audit queues drain to their sinks
	stepTelemetry        // spans and metrics flush
	stepPlugins          // plugins shut down (sinks flush) and exit
)

// stepShares is the share of shutdown_timeout reserved for each step.
var stepShares = [...]float64{stepListener: 0.3, stepGateway: 0.15, stepAudit: 0.25, stepTelemetry: 0.1, stepPlugins: 0.2}

// shutdownPlan bounds each shutdown step inside the overall
// shutdown_timeout, which starts with the first step. A step may use what
// the steps before it left, but never the reserve of the steps after it:
// a sink that cannot drain uses up the audit step's time, not the time
// healthy plugins need to shut down cleanly, and a plugin that hangs at
// start cannot stretch shutdown beyond the overall deadline.
type shutdownPlan struct {
	total time.Duration
	once  sync.Once
	end   time.Time
}

// step returns the context of step n; its deadline is the overall one
// less the reserve of the later steps.
func (p *shutdownPlan) step(n int) (context.Context, context.CancelFunc) {
	p.once.Do(func() { p.end = time.Now().Add(p.total) })
	var reserve float64
	for _, share := range stepShares[n+1:] {
		reserve += share
	}
	return context.WithDeadline(context.Background(), p.end.Add(-time.Duration(reserve*float64(p.total))))
}

// startupChecks waits, in the background, for the first start of every
// plugin and every backend, and sends what makes the configuration
// unservable (nil if nothing does): plugin configuration errors (their
// diagnostics are written to stderr first) or capabilities that conflict
// under the "error" strategy.
func startupChecks(pluginDiags <-chan hcl.Diagnostics, gw *gateway.Gateway, p *config.Parser, stderr io.Writer) chan error {
	out := make(chan error, 1)
	go func() {
		if diags := <-pluginDiags; len(diags) > 0 {
			p.WriteDiagnostics(stderr, diags, 100, isTerminal(stderr))
			if diags.HasErrors() {
				out <- errUser{errDiagnostics}
				return
			}
		}
		<-gw.StartupDone()
		if err := gw.StartupErr(); err != nil {
			var ce *catalog.ConflictError
			if errors.As(err, &ce) {
				err = errUser{err}
			}
			out <- err
			return
		}
		out <- nil
	}()
	return out
}

// connTracker follows the state of the listener's connections.
type connTracker struct {
	mu     sync.Mutex
	states map[net.Conn]http.ConnState
}

func (t *connTracker) track(c net.Conn, s http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s == http.StateClosed || s == http.StateHijacked {
		delete(t.states, c)
		return
	}
	t.states[c] = s
}

// closeUnused closes connections that are new (no request yet) or idle.
func (t *connTracker) closeUnused() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c, s := range t.states {
		if s == http.StateNew || s == http.StateIdle {
			c.Close()
		}
	}
}

// managementAudit records management mutations in the audit trail; nil
// when audit is disabled.
func managementAudit(pipe *audit.Pipeline) func(context.Context, string, string, string, time.Time, error) {
	if pipe == nil {
		return nil
	}
	return pipe.Management
}
