// Package pluginhost runs Argus's plugins: from what package discovery
// found (Catalog), it starts one process per configured instance (package
// proc: HashiCorp go-plugin over gRPC, AutoMTLS, protocol version 1), decodes the instance's configuration
// against the schema the plugin declares, configures it, and supervises it.
//
// Supervision: a plugin's exit is noticed at once (go-plugin's exit
// context), and the instance is restarted with exponential backoff and
// jitter and configured again; a plugin that stops answering its health
// check is killed and restarted the same way. Every call to a plugin has a
// deadline. Status reports each instance's phase, pid, restarts and last
// error. Close stops every process; on Linux the kernel also kills plugins
// when Argus dies without stopping them, and SDK plugins exit on their own
// when their parent is gone.
//
// Failures are split in two. Configuration problems (an unknown plugin, a
// plugin of the wrong kind, a body that does not match the schema, a
// configuration the plugin rejects, a sha256 pin that does not match) are
// returned as HCL diagnostics pointing into the configuration file. A plugin
// that cannot be run (not a plugin, wrong handshake, unsupported protocol
// version, crash or hang at start, malformed or oversized replies) is an
// error naming the plugin, its path and what it printed; Start then keeps
// the instance in backoff and retries, so a bad plugin never takes the
// gateway down.
//
// The package knows no kind's service: Instance.Conn hands out the
// connection of an instance's current process, and each kind's host side
// lives in its own subpackage, as each kind's plugin side lives in its own
// SDK file: sink (audit sinks, sdk/audit.go), exporter (telemetry
// exporters, sdk/exporter.go) and probe (health probes, sdk/probe.go).
// Options.HostServices carries the services a kind is offered (probes:
// probe.HostServices).
package pluginhost
