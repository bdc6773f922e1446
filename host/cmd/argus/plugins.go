package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/config/configload"
	"github.com/argusmcp/argus/host/logging"
	"github.com/argusmcp/argus/host/pluginhost"
	"github.com/argusmcp/argus/host/pluginhost/discovery"
	"github.com/argusmcp/argus/plugins"
)

// pluginCatalog finds the built-ins (this binary, re-executed) and the
// plugins in plugin_dir, which is relative to the configuration file.
func pluginCatalog(cfg *config.Config) (*discovery.Catalog, error) {
	builtins, err := discovery.Builtins(plugins.Names(), plugins.Subcommand)
	if err != nil {
		return nil, err
	}
	cat, err := discovery.FromConfig(cfg, builtins...)
	if err != nil {
		return cat, errUser{err}
	}
	return cat, nil
}

// validatePlugins checks every configured plugin instance
// (pluginhost.ValidateConfig); diagnostics are written with p.
func validatePlugins(ctx context.Context, cfg *config.Config, p *configload.Parser, stderr io.Writer) (int, error) {
	cat, err := pluginCatalog(cfg)
	if err != nil {
		return 0, err
	}
	for _, r := range cat.Refused() {
		fmt.Fprintf(stderr, "Warning: %v\n\n", r)
	}
	secrets := p.Secrets() // sensitive plugin attributes join the set diagnostics are redacted with
	n, diags := pluginhost.ValidateConfig(ctx, cfg, pluginhost.Options{Catalog: cat, Logger: logging.Quiet(stderr, secrets), Secrets: secrets})
	p.Reporter(stderr)(diags)
	if diags.HasErrors() {
		return 0, errUser{errDiagnostics}
	}
	return n, nil
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
	rt := pluginhost.New(pluginhost.Options{Catalog: cat, Logger: logging.Quiet(stderr, cliSecrets(ctx)), StartTimeout: describeTimeout})
	problems := rt.WriteList(ctx, stdout)
	for _, err := range problems {
		fmt.Fprintf(stderr, "Error: %v\n", err)
	}
	if len(problems) > 0 {
		return errUser{errors.New("some plugins cannot be used (see above)")}
	}
	return nil
}
