// Command conformance runs the official MCP server conformance suite
// (@modelcontextprotocol/conformance) against the Go SDK's reference server
// directly and through Argus, and reports the scenarios passed per target.
//
// Run it from the clone with `make conformance` or
// `go run ./internal/conformance [flags]`. See README.md in this directory.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/argusmcp/argus/internal/conformance/checks"
	"github.com/argusmcp/argus/internal/conformance/launch"
)

// Pinned versions of everything the harness installs.
const (
	nodeMajor          = "22"
	conformancePackage = "@modelcontextprotocol/conformance"
	sdkModule          = "github.com/modelcontextprotocol/go-sdk"
	sdkVersion         = "v1.8.0"
	everythingPkg      = sdkModule + "/conformance/everything-server"
	argusModule        = "github.com/argusmcp/argus"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1 // a target misses scenarios it must pass
	exitHarness = 2 // setup or a target could not run at all
)

// A suite is one pinned release of the conformance package and the way it
// is run. Each has its own npm prefix (the package name is the same) and
// its own results directory.
type suite struct {
	key     string // -suite name
	version string // npm version of the conformance package
	// requirements, if set, runs exactly the scenarios that protocol
	// revision requires (--requirements); with -scenario each scenario
	// runs as --scenario S --spec-version <requirements>.
	requirements string
	// stateless serves every reference server (target a, and the HTTP
	// backend of target c) statelessly, as the reference server's stateful
	// mode refuses the stateless revision's requests, and has Argus speak
	// that revision to its backend (protocol_version = "2026-07-28"), as a
	// client of the suite does directly.
	stateless bool
	prefix    string // npm prefix under .tools
	results   string // results directory under the prefix
}

var allSuites = []*suite{
	{key: "0.1.16", version: "0.1.16", prefix: "conformance", results: "results"},
	{key: "2026-07-28", version: "0.2.0-alpha.12", requirements: "2026-07-28", stateless: true,
		prefix: "conformance-0.2.0-alpha.12", results: "results"},
}

func suiteByKey(k string) *suite {
	for _, s := range allSuites {
		if s.key == k {
			return s
		}
	}
	return nil
}

// expectedFailuresFile lists, relative to this package, the scenarios an
// Argus target is known to fail (see the file's header).
const expectedFailuresFile = "internal/conformance/expected-failures.txt"

// isSuite reports whether k is the key of a suite.
func isSuite(k string) bool { return suiteByKey(k) != nil }

func (s *suite) title() string {
	t := conformancePackage + "@" + s.version
	if s.requirements != "" {
		t += " --requirements " + s.requirements
	}
	return t
}

type options struct {
	suites       []*suite
	only         []string // target keys, in a-b-c order
	scenarios    []string // empty: the suite's active scenarios
	keep         bool
	verbose      bool
	argusLog     string
	goCmd        string
	readyTimeout time.Duration
	suiteTimeout time.Duration
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintln(stderr, "conformance:", err)
		return exitHarness
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()

	root, err := findRoot()
	if err != nil {
		fmt.Fprintln(stderr, "conformance:", err)
		return exitHarness
	}
	h := &harness{
		opts:   opts,
		root:   root,
		tools:  filepath.Join(root, ".tools"),
		out:    stdout,
		procs:  &launch.Set{},
		timing: &timings{},
	}
	h.binDir = filepath.Join(h.tools, "bin")
	if h.expected, err = checks.ReadExpected(filepath.Join(root, expectedFailuresFile), isSuite); err != nil {
		fmt.Fprintln(stderr, "conformance: expected failures:", err)
		return exitHarness
	}
	// Every process started below is stopped here, whatever happens.
	defer h.procs.StopAll()

	code := h.run(ctx)
	if ctx.Err() != nil && !h.reported {
		fmt.Fprintln(stderr, "conformance: interrupted; stopping processes")
		if code == exitOK {
			code = exitFailed
		}
	}
	return code
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("conformance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	suites := fs.String("suite", "0.1.16,2026-07-28", "suites to run, comma-separated: 0.1.16 (conformance@0.1.16, its active suite) and 2026-07-28 (conformance@0.2.0-alpha.12 --requirements 2026-07-28)")
	only := fs.String("only", "a,b,c", "targets to run, comma-separated: a (reference server direct), b (Argus, stdio backend), c (Argus, streamable-HTTP backend)")
	scen := fs.String("scenario", "", "run only these scenarios (comma-separated names from the suite's `list`); default: the suite's active scenarios")
	keep := fs.Bool("keep", false, "after the run, leave the servers running (URLs printed) until interrupted")
	verbose := fs.Bool("v", false, "also print the suite's own output")
	argusLog := fs.String("argus-log", "warn", "Argus log level for targets b and c (trace|debug|info|warn|error|off); logs go to the target's results directory")
	goCmd := fs.String("go", envOr("GO", "go"), "go command used to build Argus and the reference server")
	ready := fs.Duration("ready-timeout", 30*time.Second, "how long to wait for a target to accept connections")
	suite := fs.Duration("suite-timeout", 10*time.Minute, "bound on one run of the suite against one target")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./internal/conformance [flags]\n\n"+
			"Runs the MCP server conformance suites (%s) against the go-sdk reference server\n"+
			"directly (a) and through Argus with a stdio (b) and a streamable-HTTP (c) backend.\n\nflags:\n",
			conformancePackage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	o := options{
		keep: *keep, verbose: *verbose, argusLog: *argusLog, goCmd: *goCmd,
		readyTimeout: *ready, suiteTimeout: *suite,
	}
	want := map[string]bool{}
	for _, k := range splitList(*only) {
		if targetByKey(k) == nil {
			return options{}, fmt.Errorf("-only: unknown target %q (want a, b or c)", k)
		}
		want[k] = true
	}
	for _, t := range allTargets {
		if want[t.key] {
			o.only = append(o.only, t.key)
		}
	}
	if len(o.only) == 0 {
		return options{}, errors.New("-only: no targets selected")
	}
	for _, k := range splitList(*suites) {
		s := suiteByKey(k)
		if s == nil {
			return options{}, fmt.Errorf("-suite: unknown suite %q (want 0.1.16 or 2026-07-28)", k)
		}
		if !slices.Contains(o.suites, s) {
			o.suites = append(o.suites, s)
		}
	}
	if len(o.suites) == 0 {
		return options{}, errors.New("-suite: no suite selected")
	}
	o.scenarios = splitList(*scen)
	switch o.argusLog {
	case "trace", "debug", "info", "warn", "error", "off":
	default:
		return options{}, fmt.Errorf("-argus-log: unknown level %q", o.argusLog)
	}
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// findRoot returns the directory of the Argus module containing the
// working directory.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && modulePath(string(data)) == argusModule {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("not inside a clone of %s (no go.mod declaring it above the working directory)", argusModule)
		}
		dir = parent
	}
}

func modulePath(gomod string) string {
	for _, line := range strings.Split(gomod, "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "module"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// timings records how long each step took, for the closing summary.
type timings struct {
	steps []timedStep
}

type timedStep struct {
	name string
	d    time.Duration
}

func (t *timings) add(name string, d time.Duration) {
	t.steps = append(t.steps, timedStep{name, d})
}

func fmtDur(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}
