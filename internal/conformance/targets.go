package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/argusmcp/argus/internal/conformance/checks"
	"github.com/argusmcp/argus/internal/conformance/launch"
)

type harness struct {
	opts       options
	suite      *suite // the suite being set up or run
	root       string // the clone
	tools      string // <root>/.tools
	confDir    string // <root>/.tools/<suite prefix>: the suite's npm prefix
	binDir     string // <root>/.tools/bin
	resultsDir string // <root>/.tools/<suite prefix>/results
	out        io.Writer
	procs      *launch.Set
	timing     *timings
	reported   bool // the results were reported (an interrupt after that is -keep's normal end)
	expected   checks.Expected
}

// useSuite points the harness at suite s: its npm prefix and results.
func (h *harness) useSuite(s *suite) {
	h.suite = s
	h.confDir = filepath.Join(h.tools, s.prefix)
	h.resultsDir = filepath.Join(h.confDir, s.results)
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(h.out, format+"\n", args...)
}

// rel shortens a path inside the clone for messages.
func (h *harness) rel(path string) string {
	if r, err := filepath.Rel(h.root, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

// target is one way of serving the reference server's capabilities.
type target struct {
	key   string // a, b, c
	dir   string // results sub-directory
	title string
	// start launches the target's processes and returns the MCP URL.
	start func(h *harness, ctx context.Context, dir string) (url string, procs []*launch.Proc, err error)
}

var allTargets = []*target{
	{key: "a", dir: "a-direct", title: "reference server, direct", start: startDirect},
	{key: "b", dir: "b-argus-stdio", title: "Argus, stdio backend", start: startArgusStdio},
	{key: "c", dir: "c-argus-http", title: "Argus, streamable-HTTP backend", start: startArgusHTTP},
}

func targetByKey(k string) *target {
	for _, t := range allTargets {
		if t.key == k {
			return t
		}
	}
	return nil
}

// startEverythingHTTP starts a reference server on a free port: stateful
// unless stateless is set.
func (h *harness) startEverythingHTTP(ctx context.Context, dir, name string, stateless bool) (string, *launch.Proc, error) {
	port, err := launch.FreePort()
	if err != nil {
		return "", nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p, err := launch.Start(name, filepath.Join(dir, name+".log"), dir,
		h.everythingBin(), "-http", addr, fmt.Sprintf("-stateless=%t", stateless))
	if err != nil {
		return "", nil, err
	}
	h.procs.Add(p)
	if err := launch.WaitTCP(ctx, addr, h.opts.readyTimeout, p); err != nil {
		return "", p, err
	}
	// The reference server answers on every path; the suite uses /mcp.
	return "http://" + addr + "/mcp", p, nil
}

func startDirect(h *harness, ctx context.Context, dir string) (string, []*launch.Proc, error) {
	url, p, err := h.startEverythingHTTP(ctx, dir, "everything-server", h.suite.stateless)
	return url, nonNil(p), err
}

func startArgusStdio(h *harness, ctx context.Context, dir string) (string, []*launch.Proc, error) {
	backend := fmt.Sprintf("  type    = \"stdio\"\n  command = %s\n", hclString(h.everythingBin()))
	url, p, err := h.startArgus(ctx, dir, backend+h.backendProtocol())
	return url, nonNil(p), err
}

func startArgusHTTP(h *harness, ctx context.Context, dir string) (string, []*launch.Proc, error) {
	// Served like target a: a stateless server for the stateless suite,
	// which Argus then speaks 2026-07-28 to; otherwise a stateful one
	// (sampling and elicitation requests need a session).
	burl, bp, err := h.startEverythingHTTP(ctx, dir, "everything-server", h.suite.stateless)
	if err != nil {
		return "", nonNil(bp), err
	}
	backend := fmt.Sprintf("  type = \"streamable-http\"\n  url  = %s\n", hclString(burl))
	url, ap, err := h.startArgus(ctx, dir, backend+h.backendProtocol())
	return url, nonNil(bp, ap), err
}

// backendProtocol is the protocol_version line of the backend block: the
// stateless revision for the stateless suite, else none (the default).
func (h *harness) backendProtocol() string {
	if h.suite.stateless {
		return "  protocol_version = \"2026-07-28\"\n"
	}
	return ""
}

// startArgus writes argus.hcl with one backend "everything" (names
// unprefixed: first-wins) and starts `argus serve` on a free port.
func (h *harness) startArgus(ctx context.Context, dir, backendBody string) (string, *launch.Proc, error) {
	port, err := launch.FreePort()
	if err != nil {
		return "", nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cfg := fmt.Sprintf(`# Written by internal/conformance for one run of the suite.
server {
  listen = %s
}

log {
  level = %s
}

backend "everything" {
%s}

# One backend: expose its names unprefixed, as the suite calls fixed names.
conflict_resolution {
  strategy = "first-wins"
}
`, hclString(addr), hclString(h.opts.argusLog), backendBody)
	cfgPath := filepath.Join(dir, "argus.hcl")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return "", nil, err
	}
	p, err := launch.Start("argus", filepath.Join(dir, "argus.log"), dir, h.argusBin(), "serve", "-config", cfgPath)
	if err != nil {
		return "", nil, err
	}
	h.procs.Add(p)
	if err := launch.WaitTCP(ctx, addr, h.opts.readyTimeout, p); err != nil {
		return "", p, fmt.Errorf("%w; argus log:\n%s", err, launch.Tail(filepath.Join(dir, "argus.log"), 15))
	}
	return "http://" + addr + "/mcp", p, nil
}

func nonNil(ps ...*launch.Proc) []*launch.Proc {
	var out []*launch.Proc
	for _, p := range ps {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// hclString quotes s as an HCL string literal.
func hclString(s string) string {
	q := strconv.Quote(s)
	q = strings.ReplaceAll(q, "${", "$${")
	return strings.ReplaceAll(q, "%{", "%%{")
}

// targetRun is the outcome of running the suite against one target.
type targetRun struct {
	t       *target
	dir     string
	url     string
	procs   []*launch.Proc
	err     error // the target could not run at all
	results map[string]*checks.Scenario
	order   []string // scenarios in the order the suite announced them
	notes   []string // problems worth reporting (incomplete run, …)
	elapsed time.Duration
}

// runTarget starts the target, waits until it serves the reference
// server's tools, runs the suite and collects the results. Unless -keep is
// set the target's processes are stopped before it returns.
func (h *harness) runTarget(ctx context.Context, t *target) *targetRun {
	tr := &targetRun{t: t, dir: filepath.Join(h.resultsDir, t.dir)}
	if err := os.RemoveAll(tr.dir); err != nil {
		tr.err = err
		return tr
	}
	if err := os.MkdirAll(tr.dir, 0o755); err != nil {
		tr.err = err
		return tr
	}
	tag := "[" + t.key + "]"

	// A port picked as free can be taken before the server binds it; retry
	// the start-up with fresh ports a few times.
	start := time.Now()
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		h.logf("%s starting %s …", tag, t.title)
		tr.url, tr.procs, err = t.start(h, ctx, tr.dir)
		if err == nil || ctx.Err() != nil {
			break
		}
		h.procs.Stop(tr.procs...)
		tr.procs = nil
		h.logf("%s start-up attempt %d failed: %v", tag, attempt, err)
	}
	if err != nil {
		tr.err = fmt.Errorf("could not start: %w", err)
		return tr
	}
	if !h.opts.keep {
		defer h.procs.Stop(tr.procs...)
	}
	if err := launch.WaitCatalogue(ctx, tr.url, h.opts.readyTimeout, tr.procs...); err != nil {
		if ctx.Err() != nil {
			tr.err = ctx.Err()
			return tr
		}
		// Run anyway: the suite's own messages say more about what is wrong.
		msg := fmt.Sprintf("readiness probe never listed %s at %s: %v", launch.ProbeTool, tr.url, err)
		tr.notes = append(tr.notes, msg)
		h.logf("%s warning: %s", tag, msg)
	}
	d := time.Since(start)
	h.timing.add(t.key+": start-up until ready", d)
	h.logf("%s ready at %s (%s)", tag, tr.url, fmtDur(d))

	start = time.Now()
	h.logf("%s running the suite …", tag)
	tr.err = h.runSuite(ctx, tr)
	tr.elapsed = time.Since(start)
	h.timing.add(t.key+": suite", tr.elapsed)
	if tr.err != nil {
		return tr
	}
	// A server that died during the run explains every later failure.
	for _, p := range tr.procs {
		if p.Exited() {
			msg := fmt.Sprintf("%s exited during the run (%v); see %s", p.Name(), p.Err(), h.rel(filepath.Join(tr.dir, p.Name()+".log")))
			tr.notes = append(tr.notes, msg)
			h.logf("%s warning: %s", tag, msg)
		}
	}
	passed, total := tr.passed(tr.order)
	h.logf("%s suite finished in %s: %d/%d scenarios passed", tag, fmtDur(tr.elapsed), passed, total)
	return tr
}

var announceRe = regexp.MustCompile(`Running client scenario '([^']+)' against server`)

// runSuite runs the conformance CLI against tr.url: once for the active
// suite, or once per scenario given with -scenario. Its output goes to
// suite.log, its per-scenario results to suite/.
func (h *harness) runSuite(ctx context.Context, tr *targetRun) error {
	outDir := filepath.Join(tr.dir, "suite")
	logPath := filepath.Join(tr.dir, "suite.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	var w io.Writer = logf
	if h.opts.verbose {
		w = io.MultiWriter(logf, h.out)
	}

	runs := [][]string{nil}
	if r := h.suite.requirements; r != "" {
		runs = [][]string{{"--requirements", r}}
	}
	if len(h.opts.scenarios) > 0 {
		runs = nil
		for _, s := range h.opts.scenarios {
			args := []string{"--scenario", s}
			if r := h.suite.requirements; r != "" {
				args = append(args, "--spec-version", r)
			}
			runs = append(runs, args)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, h.opts.suiteTimeout)
	defer cancel()
	for _, extra := range runs {
		args := append([]string{h.suiteScript(), "server", "--url", tr.url, "-o", outDir}, extra...)
		cmd := exec.CommandContext(ctx, h.nodeBin(), args...)
		cmd.Dir = h.confDir
		cmd.Env = append(os.Environ(), "NO_COLOR=1", "FORCE_COLOR=0")
		cmd.Stdout, cmd.Stderr = w, w
		launch.Group(cmd)
		fmt.Fprintf(w, "$ node %s\n", strings.Join(args, " "))
		err := cmd.Run()
		if ctx.Err() != nil {
			if ctx.Err() == context.DeadlineExceeded {
				return fmt.Errorf("the suite did not finish within %s; output in %s", h.opts.suiteTimeout, h.rel(logPath))
			}
			return ctx.Err()
		}
		// Exit status 1 means "some checks failed"; anything else is a crash.
		if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != 1) {
			tr.notes = append(tr.notes, fmt.Sprintf("suite exited abnormally (%v); output in %s", err, h.rel(logPath)))
		}
	}
	logf.Sync()
	log, err := os.ReadFile(logPath)
	if err != nil {
		return err
	}
	for _, m := range announceRe.FindAllStringSubmatch(string(log), -1) {
		if !containsStr(tr.order, m[1]) {
			tr.order = append(tr.order, m[1])
		}
	}
	tr.order = append(tr.order, missing(h.opts.scenarios, tr.order)...)
	tr.results, err = checks.Read(outDir, string(log))
	if err != nil {
		return err
	}
	for name := range tr.results {
		if !containsStr(tr.order, name) {
			tr.order = append(tr.order, name)
		}
	}
	if len(tr.order) == 0 {
		return fmt.Errorf("the suite ran no scenarios; output in %s:\n%s", h.rel(logPath), launch.Tail(logPath, 15))
	}
	return nil
}

func containsStr(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// missing returns the elements of want not in have.
func missing(want, have []string) []string {
	var out []string
	for _, w := range want {
		if !containsStr(have, w) {
			out = append(out, w)
		}
	}
	return out
}
