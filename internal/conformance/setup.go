package main

import (
	"context"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/argusmcp/argus/internal/conformance/launch"
	"github.com/argusmcp/argus/internal/testbin"
)

// setup installs Node 22 and the conformance package, builds the reference
// server and Argus. Each step is skipped when its result is already present
// at the pinned version.
func (h *harness) setup(ctx context.Context) error {
	if err := os.MkdirAll(h.binDir, 0o755); err != nil {
		return err
	}
	for _, s := range h.opts.suites {
		h.useSuite(s)
		if err := os.MkdirAll(h.confDir, 0o755); err != nil {
			return err
		}
		if err := h.installSuite(ctx); err != nil {
			return err
		}
		if err := h.checkScenarioNames(ctx); err != nil {
			return err
		}
	}
	if h.needs("a", "b", "c") {
		if err := h.installEverything(ctx); err != nil {
			return err
		}
	}
	if h.needs("b", "c") {
		if err := h.buildArgus(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (h *harness) needs(keys ...string) bool {
	for _, k := range keys {
		for _, o := range h.opts.only {
			if o == k {
				return true
			}
		}
	}
	return false
}

func (h *harness) nodeBin() string {
	return filepath.Join(h.confDir, "node_modules", ".bin", "node")
}

func (h *harness) suiteScript() string {
	return filepath.Join(h.confDir, "node_modules", conformancePackage, "dist", "index.js")
}

func (h *harness) everythingBin() string {
	return filepath.Join(h.binDir, "everything-server")
}

func (h *harness) argusBin() string {
	return filepath.Join(h.binDir, "argus")
}

// installSuite runs npm install into .tools/conformance unless node@22 and
// the conformance package are already there at the pinned versions.
func (h *harness) installSuite(ctx context.Context) error {
	version := h.suite.version
	what := fmt.Sprintf("node@%s and conformance@%s", nodeMajor, version)
	if v, ok := h.suiteInstalled(ctx); ok {
		h.logf("[setup] %s already installed (node %s)", what, v)
		return nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("npm not found on PATH (needed once to install %s): %w", what, err)
	}
	h.logf("[setup] installing %s into %s …", what, h.rel(h.confDir))
	logPath := filepath.Join(h.confDir, "npm-install.log")
	start := time.Now()
	cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--save-exact",
		"--prefix", h.confDir, "node@"+nodeMajor, conformancePackage+"@"+version)
	cmd.Dir = h.root
	if err := launch.RunLogged(cmd, logPath); err != nil {
		return fmt.Errorf("npm install failed (%w); output in %s:\n%s", err, h.rel(logPath), launch.Tail(logPath, 20))
	}
	d := time.Since(start)
	h.timing.add("npm install node@"+nodeMajor+" + conformance@"+version, d)
	v, ok := h.suiteInstalled(ctx)
	if !ok {
		return fmt.Errorf("npm install finished but %s is not usable; see %s", what, h.rel(logPath))
	}
	h.logf("[setup] installed %s (node %s) in %s", what, v, fmtDur(d))
	return nil
}

// suiteInstalled reports whether the pinned packages are installed and the
// Node binary runs; it returns the Node version.
func (h *harness) suiteInstalled(ctx context.Context) (string, bool) {
	nm := filepath.Join(h.confDir, "node_modules")
	if v := packageVersion(filepath.Join(nm, conformancePackage, "package.json")); v != h.suite.version {
		return "", false
	}
	if v := packageVersion(filepath.Join(nm, "node", "package.json")); !strings.HasPrefix(v, nodeMajor+".") {
		return "", false
	}
	if _, err := os.Stat(h.suiteScript()); err != nil {
		return "", false
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, h.nodeBin(), "--version").Output()
	v := strings.TrimSpace(string(out))
	if err != nil || !strings.HasPrefix(v, "v"+nodeMajor+".") {
		return "", false
	}
	return v, true
}

func packageVersion(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var p struct {
		Version string `json:"version"`
	}
	if json.Unmarshal(data, &p) != nil {
		return ""
	}
	return p.Version
}

// installEverything builds the SDK's reference server into .tools/bin unless
// a binary built from the pinned SDK version is already there.
func (h *harness) installEverything(ctx context.Context) error {
	bin := h.everythingBin()
	if bi, err := buildinfo.ReadFile(bin); err == nil && bi.Main.Path == sdkModule && bi.Main.Version == sdkVersion {
		h.logf("[setup] everything-server %s already built (%s)", sdkVersion, h.rel(bin))
		return nil
	}
	h.logf("[setup] building everything-server %s …", sdkVersion)
	start := time.Now()
	cmd := exec.CommandContext(ctx, h.opts.goCmd, "install", everythingPkg+"@"+sdkVersion)
	cmd.Dir = h.root
	cmd.Env = append(os.Environ(), "GOBIN="+h.binDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go install %s@%s: %w\n%s", everythingPkg, sdkVersion, err, out)
	}
	d := time.Since(start)
	h.timing.add("go install everything-server@"+sdkVersion, d)
	h.logf("[setup] built everything-server in %s", fmtDur(d))
	return nil
}

// buildArgus always rebuilds (incrementally) so the run tests the working tree.
func (h *harness) buildArgus(ctx context.Context) error {
	h.logf("[setup] building argus (./host/cmd/argus) …")
	start := time.Now()
	cmd := exec.CommandContext(ctx, h.opts.goCmd, "build", "-o", h.argusBin(), "./host/cmd/argus")
	cmd.Dir = h.root
	cmd.Env = testbin.BuildEnv() // static, as `make build` has it
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./host/cmd/argus: %w\n%s", err, out)
	}
	d := time.Since(start)
	h.timing.add("go build argus", d)
	h.logf("[setup] built argus in %s", fmtDur(d))
	return nil
}

var listedRe = regexp.MustCompile(`(?m)^\s*- (\S+) \[`)

// checkScenarioNames rejects -scenario names the suite does not have.
func (h *harness) checkScenarioNames(ctx context.Context) error {
	if len(h.opts.scenarios) == 0 {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, h.nodeBin(), h.suiteScript(), "list", "--server")
	cmd.Dir = h.confDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("listing the suite's scenarios: %w\n%s", err, out)
	}
	var known []string
	for _, m := range listedRe.FindAllStringSubmatch(string(out), -1) {
		known = append(known, m[1])
	}
	if bad := missing(h.opts.scenarios, known); len(bad) > 0 {
		return fmt.Errorf("-scenario: unknown server scenario(s) %s in suite %s (select suites with -suite); it has: %s",
			strings.Join(bad, ", "), h.suite.key, strings.Join(known, " "))
	}
	return nil
}
