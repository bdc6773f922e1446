// Command argus is the Argus MCP gateway.
//
//	argus serve    [-config FILE] [-stdio]
//	argus validate [-config FILE]
//	argus status   [-config FILE] [-addr URL]
//	argus plugins  [-config FILE]
//	argus audit verify [-key-file FILE] FILE...
//	argus version
//
// Exit codes: 0 ok, 1 user error (bad configuration or arguments),
// 2 internal error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/hashicorp/hcl/v2"

	"github.com/argusmcp/argus"
	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/logging"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

const (
	exitOK       = 0
	exitUser     = 1
	exitInternal = 2
)

// errUser marks failures caused by the user's input (exit code 1).
type errUser struct{ error }

func main() {
	tuneGC(os.Getenv) // serve and the built-in plugins it runs; see gc.go
	if len(os.Args) > 1 && os.Args[1] == internalPlugin {
		// Serving a built-in plugin: the host stops it, so no signal
		// handling of our own (go-plugin ignores SIGINT by design).
		os.Exit(serveBuiltin(os.Args[2:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := withProfile(func() int { return run(ctx, os.Args[1:], os.Stdout, os.Stderr) })
	stop()
	os.Exit(code)
}

// withProfile runs f under a CPU profile written to $ARGUS_CPUPROFILE, if
// set, and writes an allocation profile (every allocation since start,
// sampled at the runtime's default rate) to $ARGUS_MEMPROFILE when f
// returns, if set: for performance work (go tool pprof).
func withProfile(f func() int) int {
	if path := os.Getenv("ARGUS_MEMPROFILE"); path != "" {
		defer func() {
			out, err := os.Create(path)
			if err == nil {
				err = errors.Join(pprof.Lookup("allocs").WriteTo(out, 0), out.Close())
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "argus: ARGUS_MEMPROFILE: %v\n", err)
			}
		}()
	}
	path := os.Getenv("ARGUS_CPUPROFILE")
	if path == "" {
		return f()
	}
	out, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "argus: ARGUS_CPUPROFILE: %v\n", err)
		return f()
	}
	defer out.Close()
	if err := pprof.StartCPUProfile(out); err != nil {
		fmt.Fprintf(os.Stderr, "argus: ARGUS_CPUPROFILE: %v\n", err)
		return f()
	}
	defer pprof.StopCPUProfile()
	return f()
}

const usage = `Usage: argus <command> [flags]

Commands:
  serve     run the gateway (default config: ./argus.hcl, else the embedded example)
  validate  check a configuration file, its plugins included, and print its diagnostics
  plugins   list built-in and discovered plugins: name, kinds, version, path, sha256
  status    show a running gateway's health, backends and plugins
  audit     verify the hash chain of audit files: argus audit verify FILE...
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
	stdout = redacting(stdout, secrets)
	stderr = redacting(stderr, secrets)
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
		err = cmdAudit(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "argus %s\n", version)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "argus: unknown command %q\n\n%s", args[0], usage)
		return exitUser
	}
	var ue errUser
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		if ue.error != errDiagnostics {
			fmt.Fprintf(stderr, "argus: %v\n", ue.error)
		}
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

// cliWriter is a command's redacting output, which remembers whether it
// ends at a terminal (for coloured diagnostics).
type cliWriter struct {
	io.Writer
	term bool
}

func redacting(w io.Writer, s *logging.Secrets) io.Writer {
	return cliWriter{Writer: logging.NewRedactingWriter(w, s), term: isTerminal(w)}
}

// loadConfig reads the configuration named by -config, or ./argus.hcl, or
// falls back to the embedded example. Diagnostics go to stderr.
func loadConfig(ctx context.Context, path string, explicit bool, stderr io.Writer) (*config.Config, error) {
	cfg, _, err := loadConfigParser(ctx, path, explicit, stderr)
	return cfg, err
}

// loadConfigParser is loadConfig that also returns the parser, to render
// diagnostics found later (plugin configuration) with source snippets.
// The parser adds what it finds to the command's secrets (cliSecrets).
func loadConfigParser(ctx context.Context, path string, explicit bool, stderr io.Writer) (*config.Config, *config.Parser, error) {
	p := config.NewParserWith(cliSecrets(ctx))
	var cfg *config.Config
	var diags hcl.Diagnostics
	if _, err := os.Stat(path); err != nil && !explicit && errors.Is(err, os.ErrNotExist) {
		cfg, diags = p.Load(argus.DefaultConfig, "<embedded config.hcl.example>")
	} else {
		cfg, diags = p.LoadFile(path)
	}
	if len(diags) > 0 {
		p.WriteDiagnostics(stderr, diags, 100, isTerminal(stderr))
	}
	if diags.HasErrors() {
		return nil, p, errUser{errDiagnostics}
	}
	return cfg, p, nil
}

func isTerminal(w io.Writer) bool {
	if cw, ok := w.(cliWriter); ok {
		return cw.term
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && os.Getenv("NO_COLOR") == ""
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
	cfg, p, err := loadConfigParser(ctx, *path, true, stderr)
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
