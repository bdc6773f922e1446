package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"

	"github.com/argusmcp/argus/host/audit/recent"
	"github.com/argusmcp/argus/host/console"
	"github.com/argusmcp/argus/host/events"
	"github.com/argusmcp/argus/host/gateway"
	"github.com/argusmcp/argus/host/identity"
	"github.com/argusmcp/argus/host/logging"
	"github.com/argusmcp/argus/host/manage"
	"github.com/argusmcp/argus/host/pluginhost"
	"github.com/argusmcp/argus/host/pluginhost/exporter"
	"github.com/argusmcp/argus/host/pluginhost/probe"
	"github.com/argusmcp/argus/host/pluginhost/sink"
	"github.com/argusmcp/argus/host/policy"
	"github.com/argusmcp/argus/host/reload"
	"github.com/argusmcp/argus/host/request"
	"github.com/argusmcp/argus/host/shutdown"
	"github.com/argusmcp/argus/host/startup"
	"github.com/argusmcp/argus/host/transport"
	"github.com/argusmcp/argus/host/transport/listener"
	"github.com/argusmcp/argus/internal/gctune"
	"github.com/argusmcp/argus/internal/proctune"
)

func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	path, explicit := configFlag(fs, "configuration file (default: ./argus.hcl, else the embedded example)")
	stdio := fs.Bool("stdio", false, "serve one MCP client on stdin/stdout instead of HTTP")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, parser, err := loadConfig(ctx, *path, explicit(), stderr)
	if err != nil {
		return err
	}

	// Every shutdown step (listener, gateway, audit drain, telemetry flush,
	// plugins) has its own bound inside server.shutdown_timeout.
	stopPlan := shutdown.NewPlan(cfg.Server.ShutdownTimeout)

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
	// The threads running Go code, fitted to the CPU used (see proctune)
	// unless GOMAXPROCS is set; every change is logged at debug level.
	procs := proctune.Adapt(os.Getenv)
	proctune.OnChange(func(from, to int, cores float64) {
		log.Debug("GOMAXPROCS changed", "from", from, "to", to, "cores_used", strconv.FormatFloat(cores, 'f', 2, 64))
	})
	// The collector's percentage, lowered for a large live heap (gctune).
	gctune.OnChange(func(from, to int, live uint64) {
		log.Debug("GC percent changed", "from", from, "to", to, "live_heap_mb", live>>20)
	})
	log.Info("starting argus", "version", version, "config", cfg.Filename, "backends", len(cfg.Backends),
		"gomaxprocs", runtime.GOMAXPROCS(0), "gomaxprocs_mode", procs.String())
	if v := os.Getenv("GOMAXPROCS"); v != "" && procs != proctune.OperatorSet {
		// The runtime ignores it too; say so rather than let it look obeyed.
		log.Warn("GOMAXPROCS ignored: not a positive integer", "value", v)
	}
	// The last line, once every shutdown step below (deferred after this)
	// has run: audit drained, telemetry flushed, plugins stopped.
	defer log.Info("stopped")
	// A JWT of auth.admin_groups is admitted to the management API too.
	admin := identity.Admin(cfg.Auth)
	manage.LogToken(log, mgmtToken, mgmtSource, admin != nil)

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

	probeHost := &probe.Backends{}
	cat, err := pluginCatalog(cfg)
	if err != nil {
		return err
	}
	// Serving does not wait for plugins; configuration problems found at
	// their first start end serve (startup.Watch), while a plugin that
	// cannot run is logged and retried.
	rt, pluginDiags := pluginhost.LaunchConfig(ctx, cfg, pluginhost.Options{Catalog: cat, Logger: log, Secrets: secrets,
		HostServices: probe.HostServices(probeHost)})
	// After the gateway (deferred below, so it closes first): sinks flush
	// what it recorded, and no plugin process survives.
	defer stopPlan.Run(shutdown.Plugins, rt.Close, func(err error) { log.Warn("stopping plugins", "error", err) })

	// Observers, in order: telemetry first, so the span is open while
	// audit records its trace_id/span_id. Shutdown runs in reverse:
	// gateway, audit (drains), telemetry (flushes), plugins.
	var observers []request.Observer
	// Calls wait until every plugin's sensitive values are known secrets,
	// so that no audit record or log line of a call can echo one unredacted.
	middlewares := []request.Middleware{request.Await(rt.SecretsKnown())}
	tel, scrape, err := exporter.Telemetry(cfg.Telemetry, rt, version, log)
	if err != nil {
		return err
	}
	if tel != nil {
		observers = append(observers, tel.Observer())
		defer stopPlan.Run(shutdown.Telemetry, tel.Shutdown, func(err error) { log.Warn("flushing telemetry", "error", err) })
	}
	recentAudit := recent.New(cfg.Management.AuditBuffer) // GET /manage/v1/audit
	pipe := sink.Pipeline(cfg.Audit, rt, log, logOpts, secrets, recentAudit)
	if pipe != nil {
		observers = append(observers, pipe.Observer())
		middlewares = append(middlewares, pipe.Gate())
		defer stopPlan.Run(shutdown.Audit, pipe.Close, func(err error) { log.Error("audit events lost at shutdown", "error", err) })
	}

	// Policies and quotas (host/policy) run after authentication and the
	// audit gate, before routing; /reload swaps them (reloader.guard).
	guard, err := policy.New(cfg, nil)
	if err != nil {
		return err
	}
	middlewares = append(middlewares, guard.Middleware())

	traffic := manage.NewTraffic() // request and error rates for the console
	observers = append(observers, traffic.Observer())
	evlog := events.New(0)
	gw := gateway.New(cfg, log, gateway.Options{Version: version, Events: evlog, Probes: probe.Probers(rt),
		Observers: observers, Middlewares: middlewares, Redact: secrets.RedactString})
	guard.Follow(gw.Catalog().Snapshot)
	probeHost.Bind(gw)
	if err := tel.Register(guard, gw, pipe, rt); err != nil {
		return err
	}
	gw.Start(ctx) // returns at once; backends connect in the background
	defer stopPlan.Run(shutdown.Gateway, gw.Close, func(err error) { log.Warn("closing backends", "error", err) })
	// The start-up verdict ends serve on what start-up finds unservable:
	// plugin configuration errors, conflicting capabilities under "error".
	verdict := startup.Watch(pluginDiags, gw, parser.Reporter(stderr))

	if *stdio { // one client, one session: it gets the catalogue once start-up is done
		return transport.ServeStdio(ctx, gw.Server(), verdict, log)
	}

	var reloader *reload.File // nil: nothing to re-read (the embedded example)
	if explicit() || cfg.Filename == *path {
		reloader = reload.New(*path, cfg, gw, rt, secrets, log)
		reloader.SetGuard(guard)
	}
	drainer := &listener.Drain{}
	sessions := transport.NewSessionLimits(cfg.Server)
	if err := tel.Register(sessions); err != nil {
		return err
	}
	mux := listener.Routes{
		MCP: transport.NewMCPHandler(transport.HTTPOptions{
			Server: gw.Server(), Auth: cfg.Auth, MaxRequestBytes: cfg.Server.MaxRequestBytes,
			SessionTimeout: cfg.Server.SessionTimeout, Refuser: gw, Logger: log.Named("http"),
			TrustedProxies: cfg.Server.TrustedProxies, Sessions: sessions, Tool: gw.Catalog().ToolDef, Panics: gw.Panics(),
			Lean: gw.ServeLean,
		}),
		ManagementPrefix: manage.Prefix,
		Management: manage.New(manage.Options{
			Gateway: gw, Catalog: gw.Catalog(), Events: evlog, Token: mgmtToken, Version: version,
			Started: gw.Started, Draining: drainer.State,
			Starting: func() []string { return append(gw.Starting(), rt.Starting(sink.Required)...) },
			Reload:   reloader.Func(), Logger: log.Named("manage"), Redact: secrets.Redact,
			Plugins:         func() any { return rt.Status() },
			Audit:           pipe.ManagementRecorder(),
			AuditStats:      func() any { return pipe.Stats() },
			TelemetryStats:  func() any { return tel.SpanCounts() },
			PanicsRecovered: gw.Panics().Count,
			Admin:           admin,
			ClientIP:        func(r *http.Request) string { return transport.ClientIP(r, cfg.Server.TrustedProxies) },
			AuditRing:       recentAudit, Traffic: traffic,
		}),
		ConsolePrefix: console.Prefix,
		Console:       console.Handler(), // static; its data comes from /manage/v1
		Metrics:       scrape,
		Auth:          cfg.Auth,
	}.Mux()
	log.Info("listening", "mcp", fmt.Sprintf("http://%s/mcp", ln.Addr()), "management", fmt.Sprintf("http://%s%s", ln.Addr(), manage.Prefix),
		"console", fmt.Sprintf("http://%s%s", ln.Addr(), console.Prefix))
	defer reload.OnSIGHUP(reloader, log)()
	return listener.Run(ctx, ln, mux, listener.RunOptions{Server: cfg.Server, Drain: drainer, Startup: verdict,
		MCP: gw.Server(), Plan: stopPlan, Logger: log})
}
