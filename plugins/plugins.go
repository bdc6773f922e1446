// Package plugins lists the plugins built into the argus binary. Each lives
// in its own package, written against sdk/ only as any plugin author would,
// and can also be built as a standalone plugin binary
// (plugins/<name>/cmd/argus-plugin-<name>).
//
// Built-ins still run out of process: argus re-executes itself with the
// hidden subcommand `internal-plugin <name>`, which calls sdk.Serve.
package plugins

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/argusmcp/argus/plugins/discard"
	"github.com/argusmcp/argus/plugins/jsonl"
	"github.com/argusmcp/argus/plugins/otlp"
	"github.com/argusmcp/argus/plugins/ping"
	"github.com/argusmcp/argus/sdk"
)

var builtins = map[string]func() *sdk.Plugin{
	"discard": discard.Plugin,
	"jsonl":   jsonl.Plugin,
	"otlp":    otlp.Plugin,
	"ping":    ping.Plugin,
}

// Names lists the built-in plugins, sorted.
func Names() []string { return slices.Sorted(maps.Keys(builtins)) }

// Lookup returns the built-in plugin called name.
func Lookup(name string) (*sdk.Plugin, bool) {
	f, ok := builtins[name]
	if !ok {
		return nil, false
	}
	return f(), true
}

// Subcommand is the hidden argus subcommand that serves one built-in
// plugin: `argus internal-plugin <name>`.
const Subcommand = "internal-plugin"

// ServeMain serves the built-in plugin named by args (what follows
// Subcommand) until the host stops it, then returns 0; on bad arguments
// it returns 1 at once, having said why on stderr.
func ServeMain(args []string) int {
	if len(args) != 1 {
		fmt.Fprintf(os.Stderr, "usage: argus %s <name>\n", Subcommand)
		return 1
	}
	p, ok := Lookup(args[0])
	if !ok {
		fmt.Fprintf(os.Stderr, "argus: no built-in plugin %q (have %s)\n", args[0], strings.Join(Names(), ", "))
		return 1
	}
	sdk.ServeAndReturn(p)
	return 0
}
