package pluginhost_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/argusmcp/argus/host/pluginhost"
	"github.com/argusmcp/argus/host/pluginhost/discovery"
)

// recorded waits for the record file to hold a line with key and returns
// that line's pid (the plugin's) and the key's value.
func recorded(t *testing.T, file, key string) (pid, value int) {
	t.Helper()
	waitFor(t, 20*time.Second, key+" in "+file, func() bool {
		b, _ := os.ReadFile(file)
		for _, l := range strings.Split(string(b), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) != nil {
				continue
			}
			if v, ok := m[key].(float64); ok {
				pid, value = int(m["pid"].(float64)), int(v)
				return true
			}
		}
		return false
	})
	return pid, value
}

// sigIgnored reports whether pid ignores sig (SigIgn in /proc/pid/status).
func sigIgnored(t *testing.T, pid int, sig syscall.Signal) bool {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "SigIgn:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return mask&(1<<(uint(sig)-1)) != 0
		}
	}
	t.Fatalf("no SigIgn for %d", pid)
	return false
}

func killAtEnd(t *testing.T, pids ...int) {
	t.Cleanup(func() {
		for _, p := range pids {
			if alive(p) {
				syscall.Kill(p, syscall.SIGKILL)
			}
		}
	})
}

// TestE2EPluginChildrenStop: a plugin's child starts with SIGTERM at its
// default disposition, lives in the plugin's process group, and is
// stopped with the plugin.
func TestE2EPluginChildrenStop(t *testing.T) {
	e := newEnv(t, pluginDir(t, "recorder"), nil)
	rec := filepath.Join(t.TempDir(), "rec.jsonl")
	if diags := e.rt.Start(context.Background(), e.specs(t, `health {
  probe "recorder" "kids" {
    spawn = true
    file  = "`+rec+`"
  }
}`)); diags.HasErrors() {
		t.Fatal(e.render(diags))
	}
	plugin, child := recorded(t, rec, "child")
	killAtEnd(t, child)
	if sigIgnored(t, child, syscall.SIGTERM) {
		t.Errorf("the plugin's child %d starts with SIGTERM ignored", child)
	}
	if pgid, _ := syscall.Getpgid(child); pgid != plugin {
		t.Errorf("child's process group %d, want the plugin's own (%d)", pgid, plugin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.rt.Close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
	waitFor(t, 5*time.Second, "the plugin's child to be stopped with it", func() bool { return !alive(child) })
}

// TestE2EHostKilled: when the host is SIGKILLed, the plugin and the
// processes it started go too.
func TestE2EHostKilled(t *testing.T) {
	dir := pluginDir(t, "recorder")
	rec := filepath.Join(t.TempDir(), "rec.jsonl")
	host := exec.Command(self(t))
	host.Env = append(os.Environ(), hostDirEnv+"="+dir, hostConfigEnv+`=audit {
  sink "recorder" "kids" {
    spawn = true
    file  = "`+rec+`"
  }
}`)
	host.Stderr = os.Stderr
	out, err := host.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	killAtEnd(t, host.Process.Pid)
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "started\n" {
		t.Fatalf("host said %q, %v", line, err)
	}
	plugin, child := recorded(t, rec, "child")
	killAtEnd(t, plugin, child)
	if !alive(plugin) || !alive(child) {
		t.Fatal("plugin or child not running")
	}
	host.Process.Kill()
	host.Wait()
	waitFor(t, 5*time.Second, "plugin and child to exit after their host was SIGKILLed", func() bool {
		return !alive(plugin) && !alive(child)
	})
}

// script writes an executable shell script named argus-plugin-<name>
// into dir.
func script(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "argus-plugin-"+name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
}

// recordedPID waits for file to hold a pid (a script's "echo $! > file").
func recordedPID(t *testing.T, file string) int {
	t.Helper()
	var pid int
	waitFor(t, 20*time.Second, "a pid in "+file, func() bool {
		b, _ := os.ReadFile(file)
		var err error
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	})
	killAtEnd(t, pid)
	return pid
}

// within runs f and fails the test unless it returns within limit.
func within(t *testing.T, limit time.Duration, what string, f func()) time.Duration {
	t.Helper()
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("%s did not return within %v", what, limit)
	}
	return time.Since(start)
}

// TestE2EBackgroundChildThenExec: a shell-script plugin that leaves a
// background child holding its stdout and stderr, then execs the plugin,
// stops within bounds, child included.
func TestE2EBackgroundChildThenExec(t *testing.T) {
	dir := pluginDir(t, "recorder")
	bg := filepath.Join(t.TempDir(), "bg.pid")
	script(t, dir, "bgexec", "sleep 300 &\necho $! > "+bg+"\nexec "+filepath.Join(dir, "argus-plugin-recorder")+"\n")
	e := newEnv(t, dir, nil)
	if diags := e.rt.Start(context.Background(), e.specs(t, `health {
  probe "bgexec" "bg" {}
}`)); diags.HasErrors() {
		t.Fatal(e.render(diags))
	}
	if st := e.rt.Instance("probe.bg").Status(); st.Phase != pluginhost.PhaseRunning {
		t.Fatalf("status %+v", st)
	}
	child := recordedPID(t, bg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := within(t, 30*time.Second, "Close", func() { e.rt.Close(ctx) })
	t.Logf("Close took %v", d)
	waitFor(t, 5*time.Second, "the background child to be stopped", func() bool { return !alive(child) })
}

// TestE2ENeverHandshakes: a #!/bin/sh plugin that never handshakes (its
// child holding the pipes) fails its start within StartTimeout plus the
// kill bound, for Start, Validate and Describe, and Close stops it.
func TestE2ENeverHandshakes(t *testing.T) {
	dir := t.TempDir()
	pids := filepath.Join(t.TempDir(), "pids")
	script(t, dir, "silent", "sleep 300 &\necho $! >> "+pids+"\nwait\n")
	e := newEnv(t, dir, func(o *pluginhost.Options) { o.StartTimeout = time.Second })
	specs := e.specs(t, `health {
  probe "silent" "s" {}
}`)
	// StartTimeout, then go-plugin's kill of the group and the reap.
	const bound = 12 * time.Second
	var diags hcl.Diagnostics
	d := within(t, 30*time.Second, "Validate", func() { diags = e.rt.Validate(context.Background(), specs) })
	if !strings.Contains(diags.Error(), "no handshake within 1s") || d > bound {
		t.Errorf("Validate after %v: %v", d, diags)
	}
	p, err := discovery.Scan(dir, discovery.Options{})
	if err != nil {
		t.Fatal(err)
	}
	silent, err := p.Lookup("silent")
	if err != nil {
		t.Fatal(err)
	}
	d = within(t, 30*time.Second, "Describe", func() { _, err = e.rt.Describe(context.Background(), silent) })
	if err == nil || !strings.Contains(err.Error(), "no handshake within 1s") || d > bound {
		t.Errorf("Describe after %v: %v", d, err)
	}
	d = within(t, 30*time.Second, "Start", func() { diags = e.rt.Start(context.Background(), specs) })
	if diags.HasErrors() || d > bound {
		t.Errorf("Start after %v: %v", d, diags)
	}
	if st := e.rt.Instance("probe.s").Status(); st.Phase == pluginhost.PhaseRunning || st.LastError == "" {
		t.Errorf("status %+v", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	within(t, 30*time.Second, "Close", func() { e.rt.Close(ctx) })
	b, _ := os.ReadFile(pids)
	for _, f := range strings.Fields(string(b)) {
		pid, _ := strconv.Atoi(f)
		killAtEnd(t, pid)
		waitFor(t, 5*time.Second, "the script's child to be stopped", func() bool { return !alive(pid) })
	}
	noChildren(t)
}

// TestE2EStartHonoursContext: a start ends when its context does, even
// within StartTimeout, and its error wraps the context's, so that a caller
// can tell giving up from a broken plugin.
func TestE2EStartHonoursContext(t *testing.T) {
	dir := pluginDir(t, "hang")
	e := newEnv(t, dir, func(o *pluginhost.Options) { o.StartTimeout = time.Minute })
	cat, _ := discovery.Scan(dir, discovery.Options{})
	hang, err := cat.Lookup("hang")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	d := within(t, 30*time.Second, "Describe", func() { _, err = e.rt.Describe(ctx, hang) })
	if !errors.Is(err, context.DeadlineExceeded) || d > 10*time.Second {
		t.Errorf("Describe after %v: %v; want an error wrapping context.DeadlineExceeded", d, err)
	}
	noChildren(t)
}
