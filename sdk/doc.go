// Package sdk is what an Argus plugin author imports.
//
// A plugin is a program that calls Serve with a *Plugin built by New and
// one option per kind it provides:
//
//	func main() {
//		sdk.Serve(sdk.New("webhook", "1.0.0",
//			sdk.AuditSink(sdk.SinkFactory{
//				Schema: sdk.NewSchema().
//					String("url", "Where batches are POSTed.", sdk.Required()).
//					String("secret", "HMAC-SHA256 key.", sdk.Sensitive()),
//				New: newSink,
//			})))
//	}
//
// Built as argus-plugin-<name> and dropped into the configured plugin_dir,
// it is started by Argus for every block that names it, for example
//
//	audit {
//	  sink "webhook" "siem" { url = "https://siem.example/ingest" }
//	}
//
// Each configured instance runs in its own process. Argus asks the plugin
// for its schema, decodes the block against it (reporting unknown, missing
// and mistyped attributes with file and line), hands the plugin the decoded
// Config, and then calls the kind's interface: Sink, Exporter or Probe.
// Optional capabilities are discovered by type assertion: Flusher, Acker
// and Closer.
//
// Log with Config.Logger: lines appear in Argus's log under the plugin
// instance's name at their level, with sensitive values redacted. Never
// write to stdout. The plugin process exits when Argus stops it, and on its
// own when Argus dies.
//
// Package sdktest runs a plugin in-process in tests and provides a
// conformance suite per kind.
package sdk
