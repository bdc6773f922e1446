//go:build unix

package proc

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// TestKillBeforeStart: a Kill that comes before Start (a launch cancelled
// while go-plugin was still preparing) keeps Start from running anything.
func TestKillBeforeStart(t *testing.T) {
	r := NewRunner(exec.Command("sleep", "3600"))
	if err := r.Kill(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); !errors.Is(err, errKilledBeforeStart) {
		t.Errorf("Start after Kill = %v, want %v", err, errKilledBeforeStart)
	}
	if pid := r.PID(); pid != 0 {
		KillGroup(pid)
		t.Errorf("Start after Kill ran process %d", pid)
	}
}

// TestStartCancelledEarly: a launch whose context ends before the process
// ran (Close during a restart) returns at once, not after StartTimeout,
// and leaves nothing running. Seen as "not stopped before the shutdown
// deadline" when a runtime closed while a hung plugin restarted.
func TestStartCancelledEarly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "argus-plugin-hang")
	if err := os.WriteFile(path, []byte("#!/bin/sh\nexec sleep 3600\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	const startTimeout = 60 * time.Second
	start := time.Now()
	pc, err := Start(ctx, Exec{Name: "hang", Path: path}, Options{
		Log: hclog.NewNullLogger(), Lines: hclog.NewNullLogger(), StartTimeout: startTimeout,
	})
	took := time.Since(start)
	if pc != nil {
		pc.Stop()
		t.Fatal("a cancelled start returned a process")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Start = %v, want context.Canceled", err)
	}
	if took > startTimeout/2 {
		t.Errorf("a cancelled start returned after %v (StartTimeout %v)", took, startTimeout)
	}
}
