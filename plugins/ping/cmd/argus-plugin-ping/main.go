// Command argus-plugin-ping is the built-in ping health probe as a
// standalone plugin binary.
package main

import (
	"github.com/argusmcp/argus/plugins/ping"
	"github.com/argusmcp/argus/sdk"
)

func main() { sdk.Serve(ping.Plugin()) }
