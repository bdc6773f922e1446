package gateway_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestE2EReloadTellsTheTruth changes each configuration section through
// POST /reload: a change is either applied (its effect observed) or listed
// under restart_required, never accepted and ignored.
func TestE2EReloadTellsTheTruth(t *testing.T) {
	base := mgmtBlock + demoStdio(t, "alpha")
	url, proc := startArgus(t, base+"health {\n  interval = \"50ms\"\n}\n")
	path := proc.Cmd.Args[len(proc.Cmd.Args)-1]
	src, _ := os.ReadFile(path) // with the listen address startArgus added
	listen := string(src[:strings.Index(string(src), mgmtBlock)])
	reload := func(tail string) (restart []string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(listen+base+tail), 0o600); err != nil {
			t.Fatal(err)
		}
		var out struct {
			Restart []string `json:"restart_required"`
			Error   string
		}
		if code := mgmt(t, url, "POST", "/reload", mgmtToken, &out); code != 200 {
			t.Fatalf("reload with %q: %d %+v", tail, code, out)
		}
		if out.Restart == nil {
			t.Fatalf("reload answer without restart_required: %+v", out)
		}
		return out.Restart
	}
	plugins := func() []string {
		var out struct {
			Plugins []struct {
				ID    string `json:"instance"`
				Phase string
			}
		}
		mgmt(t, url, "GET", "/plugins", mgmtToken, &out)
		var ids []string
		for _, p := range out.Plugins {
			ids = append(ids, p.ID+":"+p.Phase)
		}
		return ids
	}
	health := "health {\n  interval = \"50ms\"\n}\n"

	// Restart-only sections are listed, one each.
	dir := t.TempDir()
	for _, tc := range []struct{ tail, want string }{
		{health + "audit {\n  record_requests = true\n}\n", "audit"},
		{health + fmt.Sprintf("audit {\n  sink \"jsonl\" \"second\" {\n    file = %q\n  }\n}\n", dir+"/second.jsonl"), "audit"},
		{health + "telemetry {\n  enabled = true\n}\n", "telemetry"},
		{health + fmt.Sprintf("plugin_dir = %q\n", dir), "plugin_dir"},
		// Which plugin files are accepted is decided once, at start-up.
		{health + "plugin_dir_allow_group_writable = true\n", "plugin_dir"},
		{health + "log {\n  level = \"debug\"\n}\n", "log"},
	} {
		if got := reload(tc.tail); !slices.Contains(got, tc.want) {
			t.Errorf("changing %s: restart_required %v", tc.want, got)
		}
		if got := reload(health); len(got) != 0 {
			t.Errorf("back to the running configuration: restart_required %v", got)
		}
	}

	// Health settings apply live: every check is slower than 1ns.
	if got := reload("health {\n  interval = \"50ms\"\n  degraded_latency = \"1ns\"\n}\n"); slices.Contains(got, "health") {
		t.Errorf("health listed as restart_required: %v", got)
	}
	waitFor(t, 10*time.Second, "alpha Degraded by the new degraded_latency", func() bool {
		return backendStatus(t, url, "alpha").Phase == "Degraded"
	})

	// Probes apply live: an added probe instance runs and checks, a
	// removed one stops.
	reload("health {\n  interval = \"50ms\"\n  probe \"ping\" \"extra\" {}\n}\n")
	waitFor(t, 20*time.Second, "probe.extra running", func() bool { return slices.Contains(plugins(), "probe.extra:running") })
	reload(health)
	waitFor(t, 10*time.Second, "probe.extra gone", func() bool {
		return !slices.ContainsFunc(plugins(), func(s string) bool { return strings.HasPrefix(s, "probe.extra:") })
	})
	waitFor(t, 10*time.Second, "alpha Ready with the default rules", func() bool {
		return backendStatus(t, url, "alpha").Phase == "Ready"
	})
}
