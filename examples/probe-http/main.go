// Command argus-plugin-http is an example Argus health probe: it GETs a
// URL and expects a status code. See README.md.
package main

import "github.com/argusmcp/argus/sdk"

func main() { sdk.Serve(Plugin()) }
