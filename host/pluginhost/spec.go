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
	// Host holds the block's host settings the kind's pipeline reads
	// (required, queue_size, on_full), so it never matches configuration
	// blocks to instances by name.
	Host HostSettings
	// DeclRange is where the block is declared, for diagnostics.
	DeclRange hcl.Range
}

// HostSettings are the settings of an instance's `host` block that the
// pipeline using the instance applies (the runtime applies sha256 itself).
type HostSettings struct {
	// Required (host.required) makes the gateway fail closed while the
	// instance cannot work: audited calls are refused without a required
	// sink, and readiness waits for its first start.
	Required bool
	// QueueSize (host.queue_size) bounds an audit sink's queue of
	// unacknowledged events (config.DefaultQueueSize when not set).
	QueueSize int
	// OnFull (host.on_full) is "block" (the default) or "drop": what a full
	// audit sink queue does with the next event.
	OnFull string
	// AckBeforeReply (host.ack_before_reply): an audited call's answer
	// waits until this audit sink acknowledged the call's event.
	AckBeforeReply bool
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
			Eval: eval, SHA256: in.SHA256, DeclRange: in.DeclRange,
			Host: HostSettings{Required: in.Required, QueueSize: in.QueueSize, OnFull: in.OnFull, AckBeforeReply: in.AckBeforeReply}})
	}
	return out
}
