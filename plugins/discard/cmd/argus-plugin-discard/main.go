// Command argus-plugin-discard is the built-in discard audit sink as a
// standalone plugin binary.
package main

import (
	"github.com/argusmcp/argus/plugins/discard"
	"github.com/argusmcp/argus/sdk"
)

func main() { sdk.Serve(discard.Plugin()) }
