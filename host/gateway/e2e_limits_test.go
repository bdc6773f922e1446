package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/internal/testbin"
)

// childPIDs lists the running (not zombie) demo-server children of pid
// (plugins are children too).
func childPIDs(t *testing.T, pid int) []int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || !bytes.Contains(b[:i], []byte("(argus-demo")) {
			continue
		}
		fields := strings.Fields(string(b[i+1:]))
		if len(fields) < 2 || fields[0] == "Z" || fields[0] == "X" || fields[1] != strconv.Itoa(pid) {
			continue
		}
		child, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		out = append(out, child)
	}
	return out
}

// waitChildren waits until pid has want demo-server children.
func waitChildren(t *testing.T, pid, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		n := len(childPIDs(t, pid))
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("argus has %d demo-server processes, want %d", n, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestE2EPerClientCapAndIdleReaping: a per-client stdio backend runs at most
// max_clients processes (plus the shared one behind the catalogue); a
// session beyond the cap gets a -32013 error naming max_clients, and idle
// per-client processes are stopped after idle_timeout, which makes room.
func TestE2EPerClientCapAndIdleReaping(t *testing.T) {
	url, proc := startArgus(t, strings.Replace(demoStdio(t, "alpha"), `type = "stdio"`, `type = "stdio"
  session_mode = "per-client"
  max_clients  = 3
  idle_timeout = "4s"`, 1))
	argus := proc.Cmd.Process.Pid
	waitChildren(t, argus, 1, startTimeout)

	sessions := make([]*mcp.ClientSession, 5)
	for i := range sessions {
		sessions[i] = connect(t, url)
	}
	ctx := context.Background()
	pids := map[string]bool{}
	for i, s := range sessions {
		res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "alpha_pid"})
		if i < 3 {
			if err != nil {
				t.Fatalf("session %d: %v", i, err)
			}
			pids[text(t, res)] = true
			continue
		}
		if rpcCode(err) != -32013 || !strings.Contains(err.Error(), "max_clients") {
			t.Errorf("session %d beyond max_clients: %v %+v", i, err, res)
		}
	}
	if len(pids) != 3 {
		t.Errorf("per-client pids = %v, want 3 distinct", pids)
	}
	waitChildren(t, argus, 1+3, 5*time.Second)

	// A call in flight is not reaped, however long it runs (longer than
	// idle_timeout here, which is long enough that a loaded machine does
	// not reap a process between the calls above).
	res, err := sessions[0].CallTool(ctx, &mcp.CallToolParams{Name: "alpha_sleep", Arguments: map[string]any{"ms": 5000}})
	if err != nil || text(t, res) != "slept" {
		t.Fatalf("long call on a per-client backend: %v %+v", err, res)
	}
	// Idle ones are.
	waitChildren(t, argus, 1, 20*time.Second)
	res, err = sessions[4].CallTool(ctx, &mcp.CallToolParams{Name: "alpha_pid"})
	if err != nil {
		t.Fatalf("after reaping: %v", err)
	}
	if pids[text(t, res)] {
		t.Errorf("reused a reaped process %s", text(t, res))
	}
	waitChildren(t, argus, 2, 5*time.Second)
}

// TestE2EDeniedSessionUseIsAudited: a valid token presenting another
// user's session id, and a request with two Authorization headers, are
// refused, logged, and written to the audit trail as denials.
func TestE2EDeniedSessionUseIsAudited(t *testing.T) {
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	t.Setenv("ARGUS_E2E_ALICE", "alice-token-0123456789")
	t.Setenv("ARGUS_E2E_BOB", "bob-token-0123456789ab")
	url, proc := startArgus(t, fmt.Sprintf(`
auth {
  token "alice" { value = env("ARGUS_E2E_ALICE") }
  token "bob" { value = env("ARGUS_E2E_BOB") }
}
audit {
  sink "jsonl" "primary" {
    file  = %q
    fsync = "always"
  }
}
`, file)+demoStdio(t, "demo"))
	victim := connectWithToken(t, url, "alice-token-0123456789")
	post := func(auth []string, session string) int {
		req, _ := http.NewRequest("POST", url, strings.NewReader(`{"jsonrpc":"2.0","id":41,"method":"tools/call","params":{"name":"demo_echo","arguments":{"message":"x"}}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("MCP-Protocol-Version", clientProtocolVersion)
		for _, a := range auth {
			req.Header.Add("Authorization", a)
		}
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post([]string{"Bearer bob-token-0123456789ab"}, victim.ID()); got != http.StatusForbidden {
		t.Errorf("hijack: HTTP %d", got)
	}
	if got := post([]string{"Bearer alice-token-0123456789", "Bearer bob-token-0123456789ab"}, victim.ID()); got != http.StatusBadRequest {
		t.Errorf("two Authorization headers: HTTP %d", got)
	}
	var recs []auditRecord
	waitFor(t, 10*time.Second, "two audit records", func() bool {
		recs = readAudit(t, file)
		return len(recs) >= 2
	})
	for i, wantUser := range []string{"bob", ""} {
		r := recs[i]
		user := ""
		if r.Source.UserID != nil {
			user = *r.Source.UserID
		}
		if r.Target.Method != "call_tool" || r.Outcome.Status != "error" || r.Outcome.ErrorType == nil || *r.Outcome.ErrorType != "unauthorized" ||
			user != wantUser || r.Source.SessionID == nil || *r.Source.SessionID != victim.ID() {
			b, _ := json.Marshal(r)
			t.Errorf("record %d: %s", i, b)
		}
	}
	if !strings.Contains(proc.Stderr.String(), "session belongs to another user") {
		t.Errorf("hijack attempt not logged")
	}
}

// TestE2EPerClientCapHoldsUnderStatelessLoad: three stateless clients
// calling a per-client stdio backend with max_clients = 2 take turns
// (none is refused), and the backend never runs more than two
// per-client processes beside the shared one: a process still exiting
// (each lingers 150 ms here) holds its slot until it has.
func TestE2EPerClientCapHoldsUnderStatelessLoad(t *testing.T) {
	url, proc := startArgus(t, `
backend "alpha" {
  type         = "stdio"
  command      = `+hclString(binPath(t, testbin.DemoServer))+`
  args         = ["-name", "alpha", "-exit-delay", "150ms"]
  session_mode = "per-client"
  max_clients  = 2
}
`)
	argus := proc.Cmd.Process.Pid
	waitChildren(t, argus, 1, startTimeout)
	stop := make(chan struct{})
	most := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				most <- n
				return
			default:
			}
			n = max(n, len(childPIDs(t, argus)))
			time.Sleep(5 * time.Millisecond) // leaves the processes the CPU
		}
	}()
	refused := statelessEchoes(t, url, "alpha_echo", 3, 6)
	close(stop)
	if n := <-most; n > 1+2 {
		t.Errorf("%d backend processes at once, want at most 3 (the shared one and max_clients = 2)", n)
	}
	if refused > 0 {
		t.Errorf("%d of 18 calls refused by max_clients, want none", refused)
	}
}
