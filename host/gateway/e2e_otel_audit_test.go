package gateway_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/argusmcp/argus/internal/otelcoltest"
)

// TestE2EOtelAuditCollectorRestarted: the built-in otlp plugin as an audit
// sink, beside a jsonl trail. 10,000 calls; mid-run the collector is
// stopped (SIGTERM, as an orchestrator stops it) and, after calls went on
// without it, started again on the same ports. Every event of the trail
// reaches the collector's file exporter exactly once, by event id.
func TestE2EOtelAuditCollectorRestarted(t *testing.T) {
	needOtel(t)
	col1 := otelcoltest.Start(t, otelcoltest.Options{})
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	url, _ := startArgus(t, mgmtBlock+fmt.Sprintf(`
log { level = "warn" }
audit {
  sink "jsonl" "trail" {
    file        = %q
    max_size_mb = 0
  }
  sink "otlp" "collector" {
    endpoint = %q
  }
}
`, file, col1.GRPCEndpoint())+demoStdio(t, "demo"))

	const n, conc = 10000, 8
	done := make(chan int64, 1)
	go func() { done <- driveCalls(t, url, n, conc) }()
	trailOps := func() int {
		ops := 0
		for _, r := range readAudit(t, file) {
			if r.EventType == "mcp_operation" {
				ops++
			}
		}
		return ops
	}

	waitFor(t, 60*time.Second, "1,000 audit records at the collector", func() bool {
		logs, err := col1.Logs()
		return err == nil && len(logs) >= 1000
	})
	col1.Stop()
	atStop := trailOps()
	if atStop >= n {
		t.Fatalf("all %d calls were made before the collector stopped; the test needs it to stop mid-run", n)
	}
	waitFor(t, 60*time.Second, "500 more calls while the collector is down", func() bool { return trailOps() >= min(atStop+500, n) })
	col2 := otelcoltest.Start(t, otelcoltest.Options{Port: col1.GRPCPort(), HTTPPort: col1.HTTPPort()})
	t.Logf("collector stopped after %d calls and restarted after %d", atStop, trailOps())

	if failed := <-done; failed != 0 {
		t.Fatalf("%d of %d calls failed", failed, n)
	}
	received := func() ([]otelcoltest.LogRecord, []otelcoltest.LogRecord) {
		a, err := col1.Logs()
		if err != nil {
			t.Fatal(err)
		}
		b, err := col2.Logs()
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
	waitFor(t, 90*time.Second, "every event at the collector", func() bool {
		a, b := received()
		return len(a)+len(b) >= n
	})

	trail := map[string]bool{}
	for _, r := range readAudit(t, file) {
		if r.EventType == "mcp_operation" {
			trail[r.EventID] = true
		}
	}
	if len(trail) != n {
		t.Fatalf("the jsonl trail holds %d distinct events, want %d", len(trail), n)
	}
	before, after := received()
	if len(before) == 0 || len(after) == 0 {
		t.Errorf("records before the restart %d, after %d; want both", len(before), len(after))
	}
	seen := map[string]int{}
	for _, rec := range append(before, after...) {
		id, _ := rec.Attributes["argus.audit.event_id"].(string)
		seen[id]++
		var body struct {
			EventID string `json:"event_id"`
		}
		if s, ok := rec.Body.(string); !ok || json.Unmarshal([]byte(s), &body) != nil || body.EventID != id {
			t.Fatalf("record for %q: body %v is not the event JSON with that id", id, rec.Body)
		}
		if rec.EventName != "argus.audit.mcp_operation" || rec.Attributes["argus.audit.backend"] != "demo" || rec.ScopeName != "argus.audit" {
			t.Fatalf("record %q: event name %q, attributes %v, scope %q", id, rec.EventName, rec.Attributes, rec.ScopeName)
		}
	}
	var dups, missing, unknown int
	for id, k := range seen {
		if k > 1 {
			dups++
		}
		if !trail[id] {
			unknown++
		}
	}
	for id := range trail {
		if seen[id] == 0 {
			missing++
		}
	}
	if dups+missing+unknown > 0 {
		t.Errorf("collector: %d records, %d distinct; %d duplicated, %d missing, %d not in the trail", len(before)+len(after), len(seen), dups, missing, unknown)
	}
	t.Logf("%d events at the collector, each once (%d before the restart, %d after)", len(seen), len(before), len(after))
}
