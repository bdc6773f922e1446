package pluginhost

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/shared"
	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// Spec is one configured plugin instance.
type Spec struct {
	Kind   pluginv1.Kind
	Plugin string // the block's first label
	Name   string // the block's second label
	// Body is the plugin's own configuration, decoded against its schema.
	Body hcl.Body
	// Eval evaluates Body's expressions (env(), file()); nil allows only
	// literals.
	Eval *hcl.EvalContext
	// SHA256 pins the external plugin's executable (lowercase hex); empty
	// means not pinned.
	SHA256 string
	// DeclRange is where the block is declared, for diagnostics.
	DeclRange hcl.Range
}

// ID names the instance uniquely: "<block type>.<name>", e.g. "sink.siem".
func (s Spec) ID() string { return shared.KindBlock(s.Kind) + "." + s.Name }

// Specs lists the plugin instances of cfg in configuration order (audit
// sinks, telemetry exporters, health probes). Their bodies evaluate
// env() and file() like the rest of the file, reporting every value they
// resolve to addSecret.
func Specs(cfg *config.Config, addSecret func(...string)) []Spec {
	eval := cfg.EvalContext(addSecret)
	var out []Spec
	for _, in := range cfg.PluginInstances() {
		out = append(out, Spec{Kind: in.Kind, Plugin: in.Plugin, Name: in.Name, Body: in.Body,
			Eval: eval, SHA256: in.SHA256, DeclRange: in.DeclRange})
	}
	return out
}
