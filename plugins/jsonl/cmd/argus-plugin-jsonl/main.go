// Command argus-plugin-jsonl is the built-in jsonl audit sink as a
// standalone plugin binary.
package main

import (
	"github.com/argusmcp/argus/plugins/jsonl"
	"github.com/argusmcp/argus/sdk"
)

func main() { sdk.Serve(jsonl.Plugin()) }
