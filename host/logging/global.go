package logging

import (
	"log"

	"github.com/hashicorp/go-hclog"
	"go.opentelemetry.io/otel"
)

// RouteGlobal sends what libraries write to process-wide sinks through l,
// so those lines take the log's format and level and pass its redaction:
// the standard library's log package (log.Print and friends, and so the
// OpenTelemetry SDK's internal logger, which defaults to it) is written by
// l.Named("stdlog") with levels inferred from "[ERROR]"-style prefixes
// (info otherwise), and the OpenTelemetry global error handler (export
// failures such as "failed to upload metrics") logs each error at error
// level under l.Named("otel").
//
// It replaces process-wide state: call it once, after building l, from the
// program's main path; the previous settings are not restored.
func RouteGlobal(l hclog.Logger) {
	std := l.Named("stdlog").StandardWriter(&hclog.StandardLoggerOptions{InferLevels: true})
	log.SetOutput(std)
	log.SetFlags(0) // l adds its own timestamp
	log.SetPrefix("")
	otelLog := l.Named("otel")
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		otelLog.Error("opentelemetry error", "error", err)
	}))
}
