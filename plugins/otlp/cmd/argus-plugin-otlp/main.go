// Command argus-plugin-otlp is the built-in OTLP telemetry exporter as a
// standalone plugin binary.
package main

import (
	"github.com/argusmcp/argus/plugins/otlp"
	"github.com/argusmcp/argus/sdk"
)

func main() { sdk.Serve(otlp.Plugin()) }
