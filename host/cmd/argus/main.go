// Command argus is the Argus MCP gateway.
//
//	argus serve    [-config FILE] [-stdio]
//	argus validate [-config FILE]
//	argus status   [-config FILE] [-addr URL]
//	argus plugins  [-config FILE]
//	argus audit verify [-key-file FILE] FILE...
//	argus audit query  [-user U] [-status S] [-since T] [-follow] ... FILE|DIR...
//	argus version
//
// Exit codes: 0 ok, 1 user error (bad configuration or arguments),
// 2 internal error; argus audit has its own: 0 ok, 1 a problem found in
// the trail, 2 usage or I/O error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/argusmcp/argus"
	"github.com/argusmcp/argus/host/audit/search"
	"github.com/argusmcp/argus/host/audit/verify"
	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/config/configload"
	"github.com/argusmcp/argus/host/logging"
	"github.com/argusmcp/argus/host/startup"
	"github.com/argusmcp/argus/internal/gctune"
	"github.com/argusmcp/argus/internal/proctune"
	"github.com/argusmcp/argus/internal/profiling"
	"github.com/argusmcp/argus/plugins"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

const (
	exitOK       = 0
	exitUser     = 1
	exitInternal = 2
)

// errUser marks failures caused by the user's input (exit code 1). It
// wraps the failure: errors.Is and errors.As see through it.
type errUser struct{ error }

func (e errUser) Unwrap() error { return e.error }

func main() {
	gctune.Apply(os.Getenv)  // serve and the built-in plugins it runs
	gctune.Adapt(os.Getenv)  // likewise: less than DefaultPercent for a large live heap
	gctune.ReleaseWhenIdle() // likewise; one-shot commands end before it looks
	if len(os.Args) > 1 && os.Args[1] == plugins.Subcommand {
		// Serving a built-in plugin: the host stops it, so no signal
		// handling of our own (go-plugin ignores SIGINT by design).
		// Profiled like any argus command ($ARGUS_CPUPROFILE with %p).
		// GOMAXPROCS is fitted to its CPU use, as serve's is.
		proctune.Adapt(os.Getenv)
		os.Exit(profiling.Run(func() int { return plugins.ServeMain(os.Args[2:]) }))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := profiling.Run(func() int { return run(ctx, os.Args[1:], os.Stdout, os.Stderr) })
	stop()
	os.Exit(code)
}

const usage = `Usage: argus <command> [flags]

Commands:
  serve     run the gateway (default config: ./argus.hcl, else the embedded example)
  validate  check a configuration file, its plugins included, and print its diagnostics
  plugins   list built-in and discovered plugins: name, kinds, version, source, path, sha256
  status    show a running gateway's health, backends and plugins
  audit     audit files: argus audit verify FILE... | argus audit query [filters] FILE|DIR...
  version   print the version

Run "argus <command> -h" for a command's flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUser
	}
	// Everything a command prints passes the redaction of every secret it
	// has come across (configuration, plugin attributes, environment).
	secrets := logging.NewSecrets()
	ctx = context.WithValue(ctx, secretsKey{}, secrets)
	stdout = logging.NewRedactingOutput(stdout, secrets)
	stderr = logging.NewRedactingOutput(stderr, secrets)
	var err error
	switch args[0] {
	case "serve":
		err = cmdServe(ctx, args[1:], stderr)
	case "validate":
		err = cmdValidate(ctx, args[1:], stdout, stderr)
	case "plugins":
		err = cmdPlugins(ctx, args[1:], stdout, stderr)
	case "status":
		err = cmdStatus(ctx, args[1:], stdout, stderr)
	case "audit":
		if len(args) > 1 && args[1] == "query" {
			err = search.Main(ctx, args[2:], stdout, stderr)
		} else {
			err = verify.Main(args[1:], stdout, stderr)
		}
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "argus %s\n", version)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "argus: unknown command %q\n\n%s", args[0], usage)
		return exitUser
	}
	// Exit codes: what the user can fix is 1, anything else 2.
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errDiagnostics), errors.Is(err, startup.ErrPluginConfig), errors.Is(err, verify.ErrReported), errors.Is(err, search.ErrReported):
		return exitUser // already reported
	case errors.As(err, new(errUser)), startup.ConfigFault(err):
		fmt.Fprintf(stderr, "argus: %v\n", err)
		return exitUser
	default:
		fmt.Fprintf(stderr, "argus: %v\n", err)
		return exitInternal
	}
}

// errDiagnostics reports that diagnostics were already printed.
var errDiagnostics = errors.New("configuration has errors")

// secretsKey carries the command's secret set in its context.
type secretsKey struct{}

// cliSecrets is the set every output of the running command is redacted
// with; configuration loading and plugins add to it.
func cliSecrets(ctx context.Context) *logging.Secrets {
	if s, ok := ctx.Value(secretsKey{}).(*logging.Secrets); ok {
		return s
	}
	return logging.NewSecrets()
}

// configFlag adds -config to fs; once fs is parsed, explicit tells
// whether it was given.
func configFlag(fs *flag.FlagSet, usage string) (path *string, explicit func() bool) {
	path = fs.String("config", "argus.hcl", usage)
	return path, func() (given bool) {
		fs.Visit(func(f *flag.Flag) { given = given || f.Name == "config" })
		return given
	}
}

// loadConfig reads the configuration at path or, if path was not given
// explicitly and does not exist, the embedded example. Diagnostics go to
// stderr; the parser is returned to render diagnostics found later
// (plugin configuration) with source snippets. What the parser finds
// secret joins the command's secrets (cliSecrets).
func loadConfig(ctx context.Context, path string, explicit bool, stderr io.Writer) (*config.Config, *configload.Parser, error) {
	p := configload.NewParserWith(cliSecrets(ctx))
	cfg, diags := p.LoadOrDefault(path, explicit, argus.DefaultConfig, "<embedded config.hcl.example>")
	p.Reporter(stderr)(diags)
	if diags.HasErrors() {
		return nil, p, errUser{errDiagnostics}
	}
	return cfg, p, nil
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("argus "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUser{errDiagnostics} // the flag package printed the problem
	}
	if fs.NArg() > 0 {
		return errUser{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

func cmdValidate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("validate", stderr)
	path := fs.String("config", "argus.hcl", "configuration file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, p, err := loadConfig(ctx, *path, true, stderr)
	if err != nil {
		return err
	}
	n, err := validatePlugins(ctx, cfg, p, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: configuration is valid (%d backends, %d plugin instances).\n", cfg.Filename, len(cfg.Backends), n)
	return nil
}
