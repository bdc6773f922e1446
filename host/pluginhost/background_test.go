package pluginhost_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/argusmcp/argus/host/pluginhost"
)

// TestLaunchDoesNotWait: Launch returns before any plugin runs, lists
// every instance at once, and a plugin hanging in New or before its
// handshake holds up nothing but its own instance; the healthy one runs
// and its diagnostics arrive once every first start has ended.
func TestLaunchDoesNotWait(t *testing.T) {
	e := newEnv(t, pluginDir(t, "hangnew", "hang"), nil)
	specs := e.specs(t, `audit { enabled = false }
health {
  probe "hangnew" "stuck" {}
  probe "hang" "mute" {}
  probe "ping" "ok" {}
}`)
	start := time.Now()
	diags := e.rt.Launch(context.Background(), specs)
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("Launch took %v", took)
	}
	if n := len(e.rt.Instances()); n != 3 {
		t.Fatalf("%d instances listed, want 3", n)
	}
	starting := e.rt.Starting(nil)
	if len(starting) != 3 || !strings.Contains(starting[0], `plugin "probe.stuck": starting for`) {
		t.Errorf("starting: %q", starting)
	}
	only := e.rt.Starting(func(i *pluginhost.Instance) bool { return i.ID() == "probe.mute" })
	if len(only) != 1 || !strings.Contains(only[0], "probe.mute") {
		t.Errorf("filtered starting: %q", only)
	}
	waitFor(t, 10*time.Second, "the healthy instance to run", func() bool {
		return e.rt.Instance("probe.ok").Status().Phase == pluginhost.PhaseRunning
	})
	if st := e.rt.Instance("probe.stuck").Status(); st.Phase != pluginhost.PhaseStarting {
		t.Errorf("instance hanging in New: %+v", st)
	}
	select {
	case d := <-diags:
		t.Fatalf("diagnostics before the stuck starts ended: %v", d)
	default:
	}
	// StartTimeout 3s, CallTimeout 2s: the stuck ones give up within
	// StartTimeout + 3 CallTimeouts, then back off and retry.
	select {
	case d := <-diags:
		if d.HasErrors() {
			t.Errorf("diagnostics: %v", d)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("first starts never ended")
	}
	if s := e.rt.Starting(nil); len(s) != 0 {
		t.Errorf("still starting: %q", s)
	}
	if st := e.rt.Instance("probe.stuck").Status(); st.Phase == pluginhost.PhaseRunning || st.LastError == "" {
		t.Errorf("instance hanging in New: %+v", st)
	}
}

// TestLaunchConfigErrorStopsInstance: an instance whose configuration is
// wrong is reported and stopped, not retried.
func TestLaunchConfigErrorStopsInstance(t *testing.T) {
	e := newEnv(t, t.TempDir(), nil)
	diags := <-e.rt.Launch(context.Background(), e.specs(t, `audit { enabled = false }
health {
  probe "ping" "bad" { no_such_attribute = 1 }
}`))
	if !diags.HasErrors() {
		t.Fatalf("no diagnostics for a wrong attribute")
	}
	if st := e.rt.Instance("probe.bad").Status(); st.Phase != pluginhost.PhaseStopped || st.LastError == "" {
		t.Errorf("instance: %+v", st)
	}
}
