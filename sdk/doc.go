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
// Two contracts keep mistakes loud. Reading a Config attribute the schema
// does not declare, or with the accessor of another type, panics with a
// *ConfigError that the SDK turns into a diagnostic on that attribute
// when it happens in Validate or New. A factory's New that fails returns
// an error and leaks nothing: whatever instance it returns along with the
// error is closed by the SDK (Closer or io.Closer), as a partly built one.
//
// Log with Config.Logger: lines appear in Argus's log under the plugin
// instance's name at their level, with sensitive values redacted. Never
// write to stdout. The plugin process exits when Argus stops it, and on its
// own when Argus dies.
//
// A plugin imports only this package and sdk/sdktest; the plugin protocol
// (its generated code, go-plugin, hclog) stays behind them. Package
// sdktest runs a plugin in-process in tests, provides a conformance suite
// per kind, and in-memory fakes of each kind (FakeSink, FakeProbe,
// FakeExporter) for tests of the host.
package sdk
