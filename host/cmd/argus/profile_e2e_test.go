package main_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/argusmcp/argus/internal/syncbuf"
)

// TestE2EProfilesOfPlugins: with ARGUS_CPUPROFILE naming a file per
// process (%p), `argus serve` and each built-in plugin process it runs
// write a CPU profile when argus stops, as the README says; and argus
// logs "stopped" only once its plugins have exited.
func TestE2EProfilesOfPlugins(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeConfig(t, fmt.Sprintf(`server { listen = %q }
log { level = "debug" }
audit {
  sink "discard" "null" {}
}
health {
  probe "ping" "default" {}
}
`, addr))
	out := &syncbuf.Buffer{}
	cmd := exec.Command(argusBin(t), "serve", "-config", cfg)
	cmd.Env = append(os.Environ(), "ARGUS_CPUPROFILE="+filepath.Join(dir, "argus-%p.cpu"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("argus output:\n%s", out.String())
		}
	})
	var plugins []int
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		plugins = childrenOf(cmd.Process.Pid)
		// Both plugins served (a plugin still starting when argus stops
		// is killed with it, and writes nothing).
		if len(plugins) == 2 && strings.Count(out.String(), "plugin running") == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("argus has children %v, want 2 plugins", plugins)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("argus exited with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("argus did not exit on SIGTERM")
	}
	// "stopped" is the last word: every plugin process exited before it.
	log := out.String()
	if stopped := strings.LastIndex(log, "argus: stopped"); stopped < 0 || strings.Count(log[:stopped], "plugin process exited") != 2 {
		t.Errorf(`want "argus: stopped" after both plugins' "plugin process exited"`)
	}
	for _, pid := range append([]int{cmd.Process.Pid}, plugins...) {
		path := filepath.Join(dir, fmt.Sprintf("argus-%d.cpu", pid))
		var b []byte
		var err error
		// A plugin ends a moment after the host has stopped it.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if b, err = os.ReadFile(path); err == nil && len(b) > 0 || time.Now().After(deadline) {
				break
			}
		}
		if !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) { // pprof profiles are gzipped protobuf
			t.Errorf("process %d: profile %s is %d bytes, not a written profile (%v)", pid, path, len(b), err)
		}
	}
}
