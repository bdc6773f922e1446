package pluginhost_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
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
