package pluginhost_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/argusmcp/argus/host/config/configload"
	"github.com/argusmcp/argus/host/logging"
	"github.com/argusmcp/argus/host/pluginhost"
	"github.com/argusmcp/argus/host/pluginhost/discovery"
	"github.com/argusmcp/argus/internal/syncbuf"
	"github.com/argusmcp/argus/plugins"
)

func self(t testing.TB) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// pluginDir is a plugin directory with argus-plugin-<mode> for each mode,
// each a symlink to the test binary.
func pluginDir(t testing.TB, modes ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, m := range modes {
		if err := os.Symlink(self(t), filepath.Join(dir, "argus-plugin-"+m)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// builtins are the built-in plugins, served by the test binary the way
// the argus binary serves them.
func builtins(t testing.TB) []discovery.Plugin { return builtinsOf(self(t)) }

// builtinsOf are the built-in plugins served by the binary exe.
func builtinsOf(exe string) []discovery.Plugin {
	var out []discovery.Plugin
	for _, n := range plugins.Names() {
		out = append(out, discovery.Plugin{Name: n, Path: exe, Args: []string{"internal-plugin", n}})
	}
	return out
}

type env struct {
	rt      *pluginhost.Runtime
	log     *syncbuf.Buffer
	secrets *logging.Secrets
	parser  *configload.Parser
}

// newEnv makes a runtime over dir (plus the built-ins) with short
// timeouts; it is closed at cleanup.
func newEnv(t testing.TB, dir string, tweak func(*pluginhost.Options)) *env {
	t.Helper()
	cat, err := discovery.Scan(dir, discovery.Options{}, builtins(t)...)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{log: &syncbuf.Buffer{}, secrets: logging.NewSecrets(), parser: configload.NewParser()}
	log, err := logging.New(logging.Options{Level: "debug", Output: e.log}, e.secrets)
	if err != nil {
		t.Fatal(err)
	}
	opts := pluginhost.Options{
		Catalog: cat, Logger: log, Secrets: e.secrets,
		StartTimeout: 10 * time.Second, CallTimeout: 2 * time.Second,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 400 * time.Millisecond,
	}
	if tweak != nil {
		tweak(&opts)
	}
	e.rt = pluginhost.New(opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.rt.Close(ctx); err != nil {
			t.Logf("close: %v", err)
		}
		if t.Failed() {
			t.Logf("host log:\n%s", e.log.String())
		}
	})
	return e
}

// specs loads src as an Argus configuration and returns its plugin
// instances.
func (e *env) specs(t testing.TB, src string) []pluginhost.Spec {
	t.Helper()
	cfg, diags := e.parser.Load([]byte(src), filepath.Join(t.TempDir(), "argus.hcl"))
	if diags.HasErrors() {
		t.Fatalf("config: %v", diags)
	}
	return pluginhost.Specs(cfg, e.secrets.Add)
}

// render renders diagnostics with snippets, file names reduced to their
// base name so that golden output does not depend on the temp dir.
func (e *env) render(diags hcl.Diagnostics) string {
	var b bytes.Buffer
	e.parser.WriteDiagnostics(&b, diags, 0, false)
	out := b.String()
	for name := range e.parser.Files() {
		out = strings.ReplaceAll(out, name, filepath.Base(name))
	}
	return out
}

// children lists the live (non-zombie) processes whose parent is this
// test process.
func children() map[int]string {
	out := map[int]string{}
	me := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		state, ppid, cmd := procInfo(pid)
		if ppid == me && state != "Z" {
			out[pid] = cmd
		}
	}
	return out
}

// procInfo reads a process's state, parent and command line.
func procInfo(pid int) (state string, ppid int, cmd string) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, ""
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return "", 0, ""
	}
	ppid, _ = strconv.Atoi(f[1])
	c, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return f[0], ppid, strings.TrimSpace(strings.ReplaceAll(string(c), "\x00", " "))
}

// alive reports whether pid runs (zombies have exited).
func alive(pid int) bool {
	state, _, _ := procInfo(pid)
	return state != "" && state != "Z"
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// noChildren fails unless this process has no child processes left
// (within a few seconds).
func noChildren(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := children()
		if len(c) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("child processes survive: %v", c)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
