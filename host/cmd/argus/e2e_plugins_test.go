package main_test

// End-to-end tests of the plugin commands and of plugin processes under
// `argus serve`, with the real argus binary and the example plugins built
// from source.

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/argusmcp/argus/internal/syncbuf"
	"github.com/argusmcp/argus/internal/testbin"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

func argusBin(t *testing.T) string {
	t.Helper()
	p, err := testbin.Path(testbin.Argus)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	examplesOnce sync.Once
	examplesDir  string
	examplesErr  error
)

// examplePlugins builds examples/audit-webhook and examples/probe-http as
// argus-plugin-webhook and argus-plugin-http into a plugin directory.
func examplePlugins(t *testing.T) string {
	t.Helper()
	examplesOnce.Do(func() {
		examplesDir, examplesErr = os.MkdirTemp("", "argus-plugins-")
		for name, pkg := range map[string]string{"webhook": "./examples/audit-webhook", "http": "./examples/probe-http"} {
			if examplesErr != nil {
				return
			}
			cmd := exec.Command("go", "build", "-o", filepath.Join(examplesDir, "argus-plugin-"+name), pkg)
			cmd.Dir = testbin.Root()
			if out, err := cmd.CombinedOutput(); err != nil {
				examplesErr = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
			}
		}
	})
	if examplesErr != nil {
		t.Fatal(examplesErr)
	}
	return examplesDir
}

// writeConfig writes an Argus configuration next to nothing else and
// returns its path.
func writeConfig(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "argus.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runArgus(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(argusBin(t), args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func TestE2EPluginsCommand(t *testing.T) {
	dir := examplePlugins(t)
	cfg := writeConfig(t, fmt.Sprintf("plugin_dir = %q\n", dir))
	out, errOut, code := runArgus(t, "plugins", "-config", cfg)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, re := range []string{
		`(?m)^discard\s+audit_sink\s+1\.0\.0\s+built-in\s+\S+argus\s+[0-9a-f]{64}$`,
		`(?m)^ping\s+health_probe\s+1\.0\.0\s+built-in\s+\S+argus\s+[0-9a-f]{64}$`,
		`(?m)^webhook\s+audit_sink\s+1\.0\.0\s+external\s+` + regexp.QuoteMeta(filepath.Join(dir, "argus-plugin-webhook")) + `\s+[0-9a-f]{64}$`,
		`(?m)^http\s+health_probe\s+1\.0\.0\s+external\s+` + regexp.QuoteMeta(filepath.Join(dir, "argus-plugin-http")) + `\s+[0-9a-f]{64}$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("argus plugins output lacks %s:\n%s", re, out)
		}
	}
}

func TestE2EValidateStartsPlugins(t *testing.T) {
	dir := examplePlugins(t)
	good := writeConfig(t, fmt.Sprintf(`plugin_dir = %q
audit {
  sink "webhook" "siem" {
    url    = "https://siem.example/ingest"
    secret = "k"
  }
}
health {
  probe "http" "status" { url = "http://127.0.0.1:8080/healthz" }
  probe "ping" "default" {}
}
`, dir))
	out, errOut, code := runArgus(t, "validate", "-config", good)
	if code != 0 || !strings.Contains(out, "configuration is valid (0 backends, 3 plugin instances)") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	bad := writeConfig(t, fmt.Sprintf(`plugin_dir = %q
audit {
  sink "webhook" "siem" {
    url = "siem.example/ingest"
  }
}
health {
  probe "http" "status" {
    url     = "http://127.0.0.1:8080/healthz"
    expect  = 204
  }
  probe "webhook" "wrong" { url = "http://x" }
}
`, dir))
	out, errOut, code = runArgus(t, "validate", "-config", bad)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"Error: Invalid url", "line 4", `"siem.example/ingest" is not an absolute http:// or https:// URL.`,
		"Error: Unsupported argument", "line 10", `An argument named "expect" is not expected here.`,
		"Error: Wrong kind of plugin", `Plugin "webhook" provides audit_sink, not health_probe`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("validate output lacks %q:\n%s", want, errOut)
		}
	}
}

// serveWithPlugins starts `argus serve` with four plugin instances (two
// built-in, two external) and returns it with the pids of its plugins.
// startServe starts `argus serve -config cfg` with env (nil: this
// process's), its output in out; it is killed when the test ends, and its
// output logged if the test failed.
func startServe(t *testing.T, cfg string, env []string) (*exec.Cmd, *syncbuf.Buffer) {
	t.Helper()
	out := &syncbuf.Buffer{}
	cmd := exec.Command(argusBin(t), "serve", "-config", cfg)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("argus output:\n%s", out.String())
		}
	})
	return cmd, out
}

func serveWithPlugins(t *testing.T) (*exec.Cmd, *syncbuf.Buffer, []int) {
	t.Helper()
	dir := examplePlugins(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := writeConfig(t, fmt.Sprintf(`plugin_dir = %q
server { listen = %q }
audit {
  sink "webhook" "siem" { url = "http://127.0.0.1:1/ingest" }
  sink "discard" "null" {}
}
health {
  probe "http" "status" { url = "http://127.0.0.1:1/healthz" }
  probe "ping" "default" {}
}
`, dir, addr))
	cmd, out := startServe(t, cfg, nil)
	var pids []int
	deadline := time.Now().Add(30 * time.Second)
	for {
		pids = childrenOf(cmd.Process.Pid)
		if len(pids) == 4 && strings.Contains(out.String(), "listening") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("argus has children %v, want 4 plugins\n%s", pids, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cmd, out, pids
}

func TestE2EServeStopsPluginsOnSIGTERM(t *testing.T) {
	cmd, out, pids := serveWithPlugins(t)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("argus exited with %v\n%s", err, out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("argus did not exit on SIGTERM")
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("plugin %d survived argus's shutdown", pid)
		}
	}
}

func TestE2ENoOrphansAfterSIGKILL(t *testing.T) {
	cmd, _, pids := serveWithPlugins(t)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("plugin %d survived argus being SIGKILLed", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// childrenOf lists the live child processes of pid (from the process
// table).
func childrenOf(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if state, ppid := stat(p); ppid == pid && state != "Z" {
			out = append(out, p)
		}
	}
	return out
}

func stat(pid int) (state string, ppid int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return "", 0
	}
	ppid, _ = strconv.Atoi(f[1])
	return f[0], ppid
}

// alive reports whether pid is a running process (zombies have exited).
func alive(pid int) bool {
	state, _ := stat(pid)
	return state != "" && state != "Z"
}

// TestE2EServeSurvivesBadPlugin: a plugin that is not a plugin at all is
// reported clearly and retried, and the gateway serves regardless.
func TestE2EServeSurvivesBadPlugin(t *testing.T) {
	dir := t.TempDir()
	script := "#!/bin/sh\necho 'usage: broken [options]'\nexit 0\n"
	if err := os.WriteFile(filepath.Join(dir, "argus-plugin-broken"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := writeConfig(t, fmt.Sprintf(`plugin_dir = %q
server { listen = %q }
health {
  probe "broken" "b" {}
}
`, dir, addr))
	out := &syncbuf.Buffer{}
	cmd := exec.Command(argusBin(t), "serve", "-config", cfg)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("argus output:\n%s", out.String())
		}
	}()
	want := `plugin \"broken\" (` + filepath.Join(dir, "argus-plugin-broken") + `): start: not an Argus plugin, or it wrote to stdout before the handshake: Unrecognized remote plugin message: usage: broken [options]`
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "listening") || !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("argus did not log %q and listen", want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Get("http://" + addr + "/manage/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("health = %s", resp.Status)
	}
	if cmd.ProcessState != nil {
		t.Fatal("argus exited")
	}
}

// TestE2EPluginsCommandBounded: `argus plugins` lists a #!/bin/sh plugin
// that never handshakes (its background child holding the pipes) as an
// error within seconds, and leaves nothing running.
func TestE2EPluginsCommandBounded(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(t.TempDir(), "pid")
	if err := os.WriteFile(filepath.Join(dir, "argus-plugin-silent"), []byte("#!/bin/sh\nsleep 300 &\necho $! > "+pidFile+"\nwait\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, fmt.Sprintf("plugin_dir = %q\n", dir))
	var o, e bytes.Buffer
	cmd := exec.Command(argusBin(t), "plugins", "-config", cfg)
	cmd.Stdout, cmd.Stderr = &o, &e
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
			t.Errorf("exit: %v", err)
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("argus plugins still running after 60s\n%s%s", o.String(), e.String())
	}
	d := time.Since(start)
	t.Logf("argus plugins took %v", d)
	if d > 20*time.Second {
		t.Errorf("argus plugins took %v", d)
	}
	if !regexp.MustCompile(`(?m)^silent\s+-\s+error\s+external\s`).MatchString(o.String()) ||
		!regexp.MustCompile(`(?m)^ping\s+health_probe\s+1\.0\.0\s+built-in`).MatchString(o.String()) ||
		!strings.Contains(e.String(), "no handshake within 5s") {
		t.Errorf("output:\n%s%s", o.String(), e.String())
	}
	b, _ := os.ReadFile(pidFile)
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
		defer syscall.Kill(pid, syscall.SIGKILL)
		deadline := time.Now().Add(5 * time.Second)
		for syscall.Kill(pid, 0) == nil && !zombie(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("the plugin's child %d survives `argus plugins`", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// zombie reports whether pid has exited but is not yet reaped.
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] == "Z"
}
