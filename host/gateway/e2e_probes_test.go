package gateway_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/argusmcp/argus/internal/testbin"
)

// TestE2ESecondProbeChangesOutcome configures examples/probe-http beside
// the built-in ping: the backend answers MCP pings fine, but when its HTTP
// health endpoint fails the backend goes Failed, and it recovers when the
// endpoint does.
func TestE2ESecondProbeChangesOutcome(t *testing.T) {
	pluginDir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(pluginDir, "argus-plugin-http"), "./examples/probe-http")
	build.Dir = testbin.Root()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build probe-http: %v\n%s", err, out)
	}
	var status atomic.Int32
	status.Store(http.StatusOK)
	var asked atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Store(r.URL.Path)
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	url, _ := startArgus(t, mgmtBlock+fmt.Sprintf(`
plugin_dir = %q
health {
  interval          = "100ms"
  failure_threshold = 2
  probe "ping" "default" {}
  probe "http" "status" {
    url = "%s/health/{backend}"
  }
}
`, pluginDir, srv.URL)+strings.Replace(demoStdio(t, "alpha"), `type = "stdio"`, `type = "stdio"
  retry_backoff = "300ms"`, 1))
	waitFor(t, 10*time.Second, "checks through both probes", func() bool {
		b := backendStatus(t, url, "alpha")
		return b.Phase == "Ready" && b.Health.Checks > 2
	})
	if p, _ := asked.Load().(string); p != "/health/alpha" {
		t.Errorf("probe asked %q", p)
	}
	status.Store(http.StatusServiceUnavailable)
	waitFor(t, 10*time.Second, "alpha Failed by the http probe", func() bool { return backendStatus(t, url, "alpha").Phase == "Failed" })
	status.Store(http.StatusOK)
	waitFor(t, 15*time.Second, "alpha Ready again", func() bool {
		b := backendStatus(t, url, "alpha")
		return b.Phase == "Ready" && b.Health.Checks > 1
	})
}

// TestE2EManagementMutationsAudited: reconnect and reload through the
// management API are written to the audit trail, with who made them (the
// management token's holder) and from where: behind a trusted proxy, the
// client its X-Forwarded-For names, as for MCP requests.
func TestE2EManagementMutationsAudited(t *testing.T) {
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	url, _ := startArgus(t, "server {\n  trusted_proxies = [\"127.0.0.1/32\"]\n}\n"+mgmtBlock+fmt.Sprintf(`
audit {
  sink "jsonl" "primary" {
    file  = %q
    fsync = "always"
  }
}
`, file)+demoStdio(t, "alpha"))
	if code := mgmt(t, url, "POST", "/reconnect/alpha", mgmtToken, nil); code != http.StatusAccepted {
		t.Fatalf("reconnect: %d", code)
	}
	req, _ := http.NewRequest("POST", strings.TrimSuffix(url, "/mcp")+"/manage/v1/reconnect/nosuch", nil)
	req.Header.Set("Authorization", "Bearer "+mgmtToken)
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	var recs []auditRecord
	waitFor(t, 10*time.Second, "management events", func() bool {
		if _, err := os.Stat(file); err != nil {
			return false // the sink starts in the background
		}
		recs = readAudit(t, file)
		return len(recs) >= 2
	})
	for i, want := range []struct{ target, status, ip string }{{"alpha", "success", "127.0.0.1"}, {"nosuch", "error", "203.0.113.9"}} {
		r := recs[i]
		if r.EventType != "management_operation" || r.Target.Method != "reconnect_backend" || r.Target.CapabilityName != want.target ||
			r.Outcome.Status != want.status || r.Source.ClientIP == nil || *r.Source.ClientIP != want.ip ||
			r.Source.UserID == nil || *r.Source.UserID != "management" {
			t.Errorf("event %d: %+v (client_ip %v, user_id %v)", i, r, deref(r.Source.ClientIP), deref(r.Source.UserID))
		}
	}
	if r := recs[1]; r.Outcome.ErrorType == nil || *r.Outcome.ErrorType != "management_error" {
		t.Errorf("failed reconnect's error_type %v", deref(r.Outcome.ErrorType))
	}
}

// deref is *p for messages, "<nil>" for nil.
func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}
