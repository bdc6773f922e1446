// Command argus-plugin-webhook is an example Argus audit sink: it POSTs
// every batch of audit events as a JSON array to a URL, signed with
// HMAC-SHA256, retrying with backoff. See README.md.
package main

import "github.com/argusmcp/argus/sdk"

func main() { sdk.Serve(Plugin()) }
