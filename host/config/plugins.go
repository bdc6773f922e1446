package config

import (
	"path/filepath"

	"github.com/hashicorp/hcl/v2"

	"github.com/argusmcp/argus/host/config/hclfunc"
	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// Defaults of the audit and telemetry blocks.
const (
	DefaultAuditFile        = "logs/audit.jsonl"
	DefaultAuditMaxSizeMB   = 100
	DefaultAuditBackupCount = 5
)

// Audit configures the audit trail. File, MaxSizeMB and BackupCount are the
// settings of the default JSONL sink, used when no sink block is given.
type Audit struct {
	Enabled     bool // default true
	File        string
	MaxSizeMB   int
	BackupCount int
	Sinks       []PluginInstance // in configuration order
	// RecordRequests also writes an mcp_request record before each audited
	// call (default false).
	RecordRequests bool
	// LogEvents mirrors every event into the host log at the AUDIT level,
	// whatever log.level says (default false).
	LogEvents bool
}

// Telemetry configures spans and metrics.
type Telemetry struct {
	Enabled bool // default false
	// ServiceName is service.name; "" means OTEL_SERVICE_NAME, else
	// "argus-mcp".
	ServiceName string
	Exporters   []PluginInstance // in configuration order
	// Prometheus serves the metrics for scraping at /metrics on the
	// server listener (default false).
	Prometheus bool
}

// PluginInstance is one `sink`, `exporter` or `probe` block: an instance of
// a plugin. Its body is the plugin's own configuration, decoded later
// against the schema the plugin declares (see host/pluginhost).
type PluginInstance struct {
	Kind   pluginv1.Kind // from the block type
	Plugin string        // first label
	Name   string        // second label
	// Body is the block's body without the host block: the plugin's own
	// attributes, undecoded. Evaluate it with Config.EvalContext.
	Body hcl.Body
	// SHA256 pins the plugin's executable (host.sha256), lowercase hex;
	// "" means not pinned.
	SHA256 string
	// Required (host.required) makes the gateway fail closed while the
	// instance cannot work (the pipelines decide what that means).
	Required bool
	// QueueSize (host.queue_size) bounds an audit sink's queue of
	// unacknowledged events (default DefaultQueueSize).
	QueueSize int
	// OnFull (host.on_full) is "block" (default) or "drop": what a full
	// audit sink queue does with the next event.
	OnFull string
	// AckBeforeReply (host.ack_before_reply) makes each audited call's
	// answer wait until this audit sink has acknowledged the call's event
	// as durable, so a crash of the gateway cannot leave an answered call
	// without its record (default false: events are delivered in the
	// background).
	AckBeforeReply bool
	DeclRange      hcl.Range
}

// DefaultQueueSize is an audit sink's default queue bound.
const DefaultQueueSize = 10000

// PluginInstances lists every plugin instance: audit sinks, telemetry
// exporters, health probes, each in configuration order.
func (c *Config) PluginInstances() []PluginInstance {
	var out []PluginInstance
	out = append(out, c.Audit.Sinks...)
	out = append(out, c.Telemetry.Exporters...)
	return append(out, c.Health.Probes...)
}

// EvalContext evaluates expressions of plugin bodies the way Load evaluates
// the rest of the file: env() and file() relative to the configuration's
// directory. Every value they resolve is passed to addSecret.
func (c *Config) EvalContext(addSecret func(...string)) *hcl.EvalContext {
	return hclfunc.EvalContext(filepath.Dir(c.Filename), hclfunc.NewResolved(addSecret))
}

// DefaultInstance names the instances added when a block configures none.
const DefaultInstance = "default"
