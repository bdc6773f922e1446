package pluginhost

import (
	"context"

	"github.com/hashicorp/hcl/v2"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/logging"
)

// ValidateConfig checks every plugin instance cfg configures with a new
// Runtime of opts (see Runtime.Validate): each plugin is started, its
// configuration decoded against its schema and its configure step dry-run.
// It returns the number of instances and their diagnostics. The values of
// sensitive attributes join opts.Secrets (a new set if nil).
func ValidateConfig(ctx context.Context, cfg *config.Config, opts Options) (int, hcl.Diagnostics) {
	opts.Secrets = secretsOf(opts)
	specs := Specs(cfg, opts.Secrets.Add)
	return len(specs), New(opts).Validate(ctx, specs)
}

// LaunchConfig logs the notes of opts.Catalog (Catalog.LogNotes), registers
// the plugin instances cfg configures with a new Runtime of opts and starts
// them in the background (see Runtime.Launch): the channel receives the
// diagnostics of their first start. Cancelling ctx does not cut a first
// start short (an audit sink still starting could then never deliver what
// was queued for it): Runtime.Close, the last shutdown step, bounds them.
func LaunchConfig(ctx context.Context, cfg *config.Config, opts Options) (*Runtime, <-chan hcl.Diagnostics) {
	opts.Secrets = secretsOf(opts)
	rt := New(opts)
	opts.Catalog.LogNotes(rt.opts.Logger)
	return rt, rt.Launch(context.WithoutCancel(ctx), Specs(cfg, opts.Secrets.Add))
}

func secretsOf(opts Options) *logging.Secrets {
	if opts.Secrets == nil {
		return logging.NewSecrets()
	}
	return opts.Secrets
}
