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
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
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
	cfg, parser, err := loadConfigParser(*path, explicit, stderr)
	if err != nil {
		return err
	}

	// Every shutdown step (listener, gateway, audit drain, telemetry flush,
	// plugins) shares one deadline: server.shutdown_timeout from the moment
	// shutdown begins, not one each.
	var (
		stopOnce     sync.Once
		stopDeadline time.Time
	)
	shutdownCtx := func() (context.Context, context.CancelFunc) {
		stopOnce.Do(func() { stopDeadline = time.Now().Add(cfg.Server.ShutdownTimeout) })
		return context.WithDeadline(context.Background(), stopDeadline)
	}

	mgmtToken, mgmtSource, err := manage.ResolveToken(cfg.Management.Token)
	if err != nil {
		return errUser{err}
	}
	secrets := logging.NewSecrets(cfg.Secrets...)
	secrets.Add(mgmtToken)
	logOpts := logging.Options{Level: cfg.Log.Level, Format: cfg.Log.Format, Output: stderr}
	log, err := logging.New(logOpts, secrets)
	if err != nil {
		return errUser{err}
	}
	log.Info("starting argus", "version", version, "config", cfg.Filename, "backends", len(cfg.Backends))
	if mgmtToken == "" {
		log.Warn("no management token: only /manage/v1/health and /manage/v1/ready are served", "set", "management.token or $"+manage.TokenEnv)
	} else {
		log.Debug("management token configured", "source", mgmtSource)
	}

	probeHost := &gatewayBackends{}
	rt, err := startPlugins(ctx, cfg, parser, log, secrets, probeHost, stderr)
	if err != nil {
		return err
	}
	defer func() {
		// After the gateway (deferred below, so it closes first): sinks
		// flush what it recorded, and no plugin process survives.
		sctx, cancel := shutdownCtx()
		defer cancel()
		if err := rt.Close(sctx); err != nil {
			log.Warn("stopping plugins", "error", err)
		}
	}()

	// Observers, in order: telemetry first, so the span is open while
	// audit records its trace_id/span_id. Shutdown runs in reverse:
	// gateway, audit (drains), telemetry (flushes), plugins.
	var observers []request.Observer
	var middlewares []request.Middleware
	tel, scrape, err := startTelemetry(cfg, rt, log)
	if err != nil {
		return err
	}
	if tel != nil {
		observers = append(observers, tel.Observer())
		defer func() {
			sctx, cancel := shutdownCtx()
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
			sctx, cancel := shutdownCtx()
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
	if err := gw.Start(ctx); err != nil {
		var ce *catalog.ConflictError
		if errors.As(err, &ce) {
			return errUser{err}
		}
		return err
	}
	defer func() {
		sctx, cancel := shutdownCtx()
		defer cancel()
		if err := gw.Close(sctx); err != nil {
			log.Warn("closing backends", "error", err)
		}
		log.Info("stopped")
	}()

	if *stdio {
		log.Info("serving MCP on stdio")
		err := gw.Server().Run(ctx, transport.Stdio(&mcp.StdioTransport{}))
		if err != nil && ctx.Err() == nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("stdio session: %w", err)
		}
		return nil
	}

	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return errUser{fmt.Errorf("listen on %s: %w", cfg.Server.Listen, err)}
	}
	reload := reloader(*path, explicit || cfg.Filename == *path, gw, secrets, log)
	mux := http.NewServeMux()
	mux.Handle(manage.Prefix+"/", manage.New(manage.Options{
		Gateway: gw, Catalog: gw.Catalog(), Events: evlog, Token: mgmtToken, Version: version,
		Started: gw.Started, Reload: reload, Logger: log.Named("manage"),
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
	mux.Handle("/mcp", transport.NewMCPHandler(transport.HTTPOptions{
		Server:          gw.Server(),
		Auth:            cfg.Auth,
		MaxRequestBytes: cfg.Server.MaxRequestBytes,
		SessionTimeout:  cfg.Server.SessionTimeout,
		Refuser:         gw,
		Logger:          log.Named("http"),
		TrustedProxies:  cfg.Server.TrustedProxies,
		Panics:          gw.Panics(),
	}))
	conns := &connTracker{states: map[net.Conn]http.ConnState{}}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.Named("http").StandardLogger(nil), ConnState: conns.track}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "mcp", fmt.Sprintf("http://%s/mcp", ln.Addr()), "management", fmt.Sprintf("http://%s%s", ln.Addr(), manage.Prefix))

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case err := <-errc:
			return fmt.Errorf("http server: %w", err)
		case <-hup:
			if reload == nil {
				log.Warn("SIGHUP ignored: no configuration file to reload")
				continue
			}
			if diags, err := reload(); err != nil {
				log.Error("reload failed; the running configuration stays", "error", err, "diagnostics", diags)
			}
			continue
		case <-ctx.Done():
		}
		break
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
	sctx, cancel := shutdownCtx()
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	return nil
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

// reloader returns the function behind POST /manage/v1/reload and SIGHUP:
// it re-reads the configuration file and applies it. nil when the gateway
// runs the embedded configuration.
func reloader(path string, fromFile bool, gw *gateway.Gateway, secrets *logging.Secrets, log hclog.Logger) func() (string, error) {
	if !fromFile {
		return nil
	}
	var mu sync.Mutex
	return func() (string, error) {
		mu.Lock()
		defer mu.Unlock()
		p := config.NewParser()
		cfg, diags := p.LoadFile(path)
		var buf strings.Builder
		if len(diags) > 0 {
			p.WriteDiagnostics(&buf, diags, 0, false)
		}
		if diags.HasErrors() {
			return buf.String(), fmt.Errorf("%w: %s", manage.ErrInvalidConfig, path)
		}
		secrets.Add(cfg.Secrets...)
		sum, err := gw.Apply(cfg)
		if err != nil {
			return buf.String(), fmt.Errorf("%w: %v", manage.ErrInvalidConfig, err)
		}
		log.Info("configuration reloaded", "file", path, "added", sum.Added, "removed", sum.Removed, "changed", sum.Changed)
		return buf.String(), nil
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
