package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/logging"
	"github.com/argusmcp/argus/host/pluginhost"
	"github.com/argusmcp/argus/host/pluginhost/probe"
	"github.com/argusmcp/argus/plugins"
)

// pluginCatalog finds the built-ins (this binary, re-executed) and the
// plugins in plugin_dir, which is relative to the configuration file.
func pluginCatalog(cfg *config.Config) (*pluginhost.Catalog, error) {
	builtins, err := pluginhost.Builtins(plugins.Names(), plugins.Subcommand)
	if err != nil {
		return nil, err
	}
	cat, err := pluginhost.ConfigCatalog(cfg, builtins...)
	if err != nil {
		return cat, errUser{err}
	}
	return cat, nil
}

// quietLogger logs warnings and errors to w, for the one-shot commands.
func quietLogger(w io.Writer, secrets *logging.Secrets) hclog.Logger {
	log, _ := logging.New(logging.Options{Level: "warn", Output: w}, secrets)
	return log
}

// validatePlugins starts every configured plugin instance, decodes its
// configuration against the plugin's schema and dry-runs its configure
// step. Diagnostics are written with p.
func validatePlugins(ctx context.Context, cfg *config.Config, p *config.Parser, stderr io.Writer) (int, error) {
	cat, err := pluginCatalog(cfg)
	if err != nil {
		return 0, err
	}
	secrets := p.Secrets() // sensitive plugin attributes join the set diagnostics are redacted with
	for _, r := range cat.Refused() {
		fmt.Fprintf(stderr, "Warning: %v\n\n", r)
	}
	rt := pluginhost.New(pluginhost.Options{Catalog: cat, Logger: quietLogger(stderr, secrets), Secrets: secrets})
	specs := pluginhost.Specs(cfg, secrets.Add)
	diags := rt.Validate(ctx, specs)
	if len(diags) > 0 {
		p.WriteDiagnostics(stderr, diags, 100, logging.IsTerminal(stderr))
	}
	if diags.HasErrors() {
		return 0, errUser{errDiagnostics}
	}
	return len(specs), nil
}

// describeTimeout bounds each plugin's start in `argus plugins`, which
// starts them all at once: a plugin that does not handshake is listed as
// an error after that long.
const describeTimeout = 5 * time.Second

func cmdPlugins(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("plugins", stderr)
	path, explicit := configFlag(fs, "configuration file naming plugin_dir (default: ./argus.hcl, else the embedded example)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, _, err := loadConfig(ctx, *path, explicit(), stderr)
	if err != nil {
		return err
	}
	cat, err := pluginCatalog(cfg)
	if err != nil {
		return err
	}
	rt := pluginhost.New(pluginhost.Options{Catalog: cat, Logger: quietLogger(stderr, cliSecrets(ctx)), StartTimeout: describeTimeout})
	problems := rt.WriteList(ctx, stdout)
	for _, err := range problems {
		fmt.Fprintf(stderr, "Error: %v\n", err)
	}
	if len(problems) > 0 {
		return errUser{errors.New("some plugins cannot be used (see above)")}
	}
	return nil
}

// startPlugins registers the configured plugin instances for serve and
// starts them in the background: serving does not wait for them. The
// channel receives the diagnostics of their first start (see
// pluginhost.Runtime.Launch); configuration problems among them end serve
// (exit 1), while a plugin that cannot run is logged and retried.
func startPlugins(ctx context.Context, cfg *config.Config, log hclog.Logger,
	secrets *logging.Secrets, backends *probe.Backends) (*pluginhost.Runtime, <-chan hcl.Diagnostics, error) {
	cat, err := pluginCatalog(cfg)
	if err != nil {
		return nil, nil, err
	}
	cat.LogNotes(log)
	rt := pluginhost.New(pluginhost.Options{Catalog: cat, Logger: log, Secrets: secrets, HostServices: probe.HostServices(backends)})
	// A shutdown signal must not cut a plugin's first start short: an
	// audit sink still starting then could never deliver what was queued
	// for it. Runtime.Close, the last shutdown step, bounds those starts.
	return rt, rt.Launch(context.WithoutCancel(ctx), pluginhost.Specs(cfg, secrets.Add)), nil
}
