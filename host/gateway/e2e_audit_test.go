package gateway_test

// End-to-end tests of the audit trail: real argus, real jsonl sink plugin
// processes writing real files, verified with `argus audit verify`.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/internal/syncbuf"
	"github.com/argusmcp/argus/internal/testbin"
)

// auditRecord is what the tests read back from the files.
type auditRecord struct {
	EventType string `json:"event_type"`
	EventID   string `json:"event_id"`
	Timestamp string `json:"timestamp"`
	Source    struct {
		SessionID *string `json:"session_id"`
		ClientIP  *string `json:"client_ip"`
		UserID    *string `json:"user_id"`
	} `json:"source"`
	Target struct {
		Backend        *string `json:"backend"`
		Method         string  `json:"method"`
		CapabilityName string  `json:"capability_name"`
		OriginalName   *string `json:"original_name"`
	} `json:"target"`
	Outcome struct {
		Status    string  `json:"status"`
		LatencyMS float64 `json:"latency_ms"`
		Error     *string `json:"error"`
		ErrorType *string `json:"error_type"`
	} `json:"outcome"`
	Metadata map[string]any `json:"metadata"`
}

// auditFiles lists base and its numbered backups, oldest first.
func auditFiles(t *testing.T, base string) []string {
	t.Helper()
	matches, _ := filepath.Glob(base + ".*")
	var backups []string
	for _, m := range matches {
		var n int
		if _, err := fmt.Sscanf(strings.TrimPrefix(m, base+"."), "%d", &n); err == nil {
			backups = append(backups, m)
		}
	}
	sort.Slice(backups, func(i, j int) bool {
		var a, b int
		fmt.Sscanf(strings.TrimPrefix(backups[i], base+"."), "%d", &a)
		fmt.Sscanf(strings.TrimPrefix(backups[j], base+"."), "%d", &b)
		return a > b
	})
	if _, err := os.Stat(base); err == nil {
		backups = append(backups, base)
	}
	return backups
}

func readAudit(t *testing.T, files ...string) []auditRecord {
	t.Helper()
	var out []auditRecord
	for _, f := range files {
		fh, err := os.Open(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue // the sink starts in the background and creates it on its first start
		}
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var r auditRecord
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("%s: %v: %s", f, err, sc.Text())
			}
			out = append(out, r)
		}
		fh.Close()
	}
	return out
}

func verifyAudit(t *testing.T, files ...string) string {
	t.Helper()
	out, err := exec.Command(binPath(t, testbin.Argus), append([]string{"audit", "verify"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("argus audit verify: %v\n%s", err, out)
	}
	return string(out)
}

// auditDrained reports whether every audit queue of the argus serving url
// is empty: each event queued so far is written and acknowledged.
func auditDrained(t *testing.T, url string) bool {
	t.Helper()
	var st struct {
		Audit []struct {
			Depth int `json:"queue_depth"`
		} `json:"audit"`
	}
	if code := mgmt(t, url, "GET", "/status", mgmtToken, &st); code != 200 || len(st.Audit) == 0 {
		t.Fatalf("status: %d, %d audit queues", code, len(st.Audit))
	}
	for _, q := range st.Audit {
		if q.Depth > 0 {
			return false
		}
	}
	return true
}

func sinkPID(t *testing.T, url, instance string) int {
	var out struct {
		Plugins []struct {
			ID  string `json:"instance"`
			PID int    `json:"pid"`
		} `json:"plugins"`
	}
	mgmt(t, url, "GET", "/plugins", mgmtToken, &out)
	for _, p := range out.Plugins {
		if p.ID == instance {
			return p.PID
		}
	}
	return 0
}

// driveCalls sends n echo calls over conc sessions and counts failures.
func driveCalls(t *testing.T, url string, n, conc int) int64 {
	t.Helper()
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for range conc {
		s := connect(t, url)
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				if _, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "demo_echo", Arguments: map[string]any{"message": fmt.Sprint(i)}}); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return failed.Load()
}

func checkEachOnce(t *testing.T, recs []auditRecord, want int) {
	t.Helper()
	seen := map[string]int{}
	ops := 0
	for _, r := range recs {
		if r.EventType != "mcp_operation" {
			continue
		}
		ops++
		seen[r.EventID]++
	}
	dups := 0
	for _, n := range seen {
		if n > 1 {
			dups++
		}
	}
	if ops != want || len(seen) != want || dups != 0 {
		t.Errorf("audit holds %d mcp_operation records, %d distinct, %d duplicated; want %d each once", ops, len(seen), dups, want)
	}
}

// TestE2EAuditSinkKilledNothingLost: 20,000 calls at concurrency 16 while
// the sink plugin is SIGKILLed three times; every event lands exactly once
// and the hash chain verifies.
func TestE2EAuditSinkKilledNothingLost(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "audit.jsonl")
	url, _ := startArgus(t, mgmtBlock+fmt.Sprintf(`
log { level = "warn" }
audit {
  sink "jsonl" "primary" {
    file         = %q
    max_size_mb  = 0
  }
}
`, file)+demoStdio(t, "demo"))
	const n, conc = 20000, 16
	done := make(chan int64)
	go func() { done <- driveCalls(t, url, n, conc) }()
	for k := range 3 {
		time.Sleep(time.Duration(500+300*k) * time.Millisecond)
		pid := sinkPID(t, url, "sink.primary")
		if pid == 0 {
			waitFor(t, 10*time.Second, "the sink to run", func() bool { pid = sinkPID(t, url, "sink.primary"); return pid > 0 })
		}
		syscall.Kill(pid, syscall.SIGKILL)
		waitFor(t, 15*time.Second, "the sink restarted", func() bool { p := sinkPID(t, url, "sink.primary"); return p > 0 && p != pid })
	}
	if failed := <-done; failed != 0 {
		t.Fatalf("%d calls failed", failed)
	}
	// Everything acknowledged: the queue drains to zero.
	waitFor(t, 20*time.Second, "the audit queue to drain", func() bool {
		recs := readAudit(t, auditFiles(t, file)...)
		ops := 0
		for _, r := range recs {
			if r.EventType == "mcp_operation" {
				ops++
			}
		}
		return ops >= n
	})
	checkEachOnce(t, readAudit(t, auditFiles(t, file)...), n)
	t.Log(strings.TrimSpace(verifyAudit(t, auditFiles(t, file)...)))
}

// TestE2EAuditRotation: a tiny max_size_mb rotates many times; nothing is
// lost while backup_count keeps all files, backup_count is respected when
// it does not, and the chain verifies across files.
func TestE2EAuditRotation(t *testing.T) {
	for _, tc := range []struct {
		backups int
		keepAll bool
	}{{200, true}, {3, false}} {
		t.Run(fmt.Sprintf("backup_count=%d", tc.backups), func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "audit.jsonl")
			url, _ := startArgus(t, mgmtBlock+fmt.Sprintf(`
log { level = "warn" }
audit {
  sink "jsonl" "rot" {
    file         = %q
    max_size_mb  = 0.02
    backup_count = %d
  }
}
`, file, tc.backups)+demoStdio(t, "demo"))
			const n = 2000
			if failed := driveCalls(t, url, n, 8); failed != 0 {
				t.Fatalf("%d calls failed", failed)
			}
			// Every event is queued before its call is answered; once the
			// queue is empty, the sink has written (and acknowledged) them
			// all, and no rotation comes after. The sink removes backups past
			// backup_count in the background: the files are judged once the
			// same ones are listed twice in a row after that. (Judged by the
			// files alone, a batch still lingering in the queue could rotate
			// them between the listing and the verification.)
			var listed []string
			waitFor(t, 20*time.Second, "all events written", func() bool {
				if !auditDrained(t, url) {
					return false
				}
				prev := listed
				listed = auditFiles(t, file)
				recs := readAudit(t, listed...)
				if !tc.keepAll {
					return len(recs) > 0 && len(listed) == tc.backups+1 && slices.Equal(prev, listed)
				}
				return len(recs) >= n
			})
			files := auditFiles(t, file)
			if len(files) > tc.backups+1 {
				t.Errorf("%d files, backup_count %d", len(files), tc.backups)
			}
			for _, f := range files {
				st, err := os.Stat(f)
				if errors.Is(err, fs.ErrNotExist) {
					continue // removed since listed: the rotation's cleanup of old backups runs in the background
				}
				if err != nil {
					t.Fatal(err)
				}
				if st.Size() > 21*1024*1024/1000+4096 {
					t.Errorf("%s is %d bytes, over max_size_mb", f, st.Size())
				}
			}
			if tc.keepAll {
				if len(files) < 10 {
					t.Errorf("only %d files: no real rotation", len(files))
				}
				checkEachOnce(t, readAudit(t, files...), n)
			}
			t.Log(strings.TrimSpace(verifyAudit(t, files...)))
		})
	}
}

// TestE2EAuditOutcomes: one event per outcome class, exactly.
// auditedArgus starts Argus in front of backends (HCL blocks) with a
// token for alice (alice-token-0123456789) and a jsonl sink writing
// each record through to file, which it returns.
func auditedArgus(t *testing.T, backends string) (url, file string) {
	t.Helper()
	file = filepath.Join(t.TempDir(), "audit.jsonl")
	t.Setenv("ARGUS_E2E_ALICE", "alice-token-0123456789")
	url, _ = startArgus(t, mgmtBlock+fmt.Sprintf(`
log { level = "off" }
auth {
  token "alice" { value = env("ARGUS_E2E_ALICE") }
}
audit {
  sink "jsonl" "primary" {
    file  = %q
    fsync = "always"
  }
}
`, file)+backends)
	return url, file
}

func TestE2EAuditOutcomes(t *testing.T) {
	url, file := auditedArgus(t, strings.Replace(demoStdio(t, "demo"), `type = "stdio"`, `type = "stdio"
  call_timeout = "300ms"`, 1)+strings.Replace(demoStdio(t, "victim"), `type = "stdio"`, `type = "stdio"
  retry_backoff = "5s"`, 1))
	s := connectWithToken(t, url, "alice-token-0123456789")
	ctx := context.Background()
	call := func(name string, args map[string]any) {
		s.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	}

	call("demo_echo", map[string]any{"message": "ok"})
	call("demo_fail", map[string]any{"message": "backend says no"})
	call("demo_tool_error", map[string]any{"message": "tool says no"})
	call("demo_sleep", map[string]any{"ms": 2000}) // exceeds call_timeout
	call("nosuch_tool", nil)
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	s.CallTool(cctx, &mcp.CallToolParams{Name: "demo_sleep", Arguments: map[string]any{"ms": 250}}) // cancelled by the client
	cancel()
	pidText, _ := s.CallTool(ctx, &mcp.CallToolParams{Name: "victim_pid"})
	var pid int
	fmt.Sscan(text(t, pidText), &pid)
	go func() { time.Sleep(200 * time.Millisecond); syscall.Kill(pid, syscall.SIGKILL) }()
	call("victim_sleep", map[string]any{"ms": 5000}) // the backend crashes mid-call
	// Refused: no token.
	req, _ := http.NewRequest("POST", url, strings.NewReader(`{"jsonrpc":"2.0","id":99,"method":"tools/call","params":{"name":"demo_echo","arguments":{"message":"x"}}}`))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	s.ReadResource(ctx, &mcp.ReadResourceParams{URI: "demo://demo/readme"})
	s.GetPrompt(ctx, &mcp.GetPromptParams{Name: "demo_greet", Arguments: map[string]string{"name": "x"}})
	s.ListTools(ctx, nil) // not audited

	want := []struct {
		method, capability, status, errorType string
		userNull                              bool
		backend                               string
	}{
		{"call_tool", "demo_echo", "success", "", false, "demo"},
		{"call_tool", "demo_fail", "error", "rpc_error", false, "demo"},
		{"call_tool", "demo_tool_error", "error", "tool_error", false, "demo"},
		{"call_tool", "demo_sleep", "error", "timeout", false, "demo"},
		{"call_tool", "nosuch_tool", "error", "not_found", false, ""},
		{"call_tool", "demo_sleep", "error", "cancelled", false, "demo"},
		{"call_tool", "victim_pid", "success", "", false, "victim"},
		{"call_tool", "victim_sleep", "error", "transport_error", false, "victim"},
		{"call_tool", "demo_echo", "error", "unauthorized", true, ""},
		{"read_resource", "demo://demo/readme", "success", "", false, "demo"},
		{"get_prompt", "demo_greet", "success", "", false, "demo"},
	}
	var recs []auditRecord
	waitFor(t, 10*time.Second, "all events", func() bool {
		recs = readAudit(t, file)
		return len(recs) >= len(want)
	})
	time.Sleep(300 * time.Millisecond)
	recs = readAudit(t, file)
	if len(recs) != len(want) {
		for i, r := range recs {
			b, _ := json.Marshal(r)
			t.Logf("record %d: %s", i, b)
		}
		t.Fatalf("%d records, want %d", len(recs), len(want))
	}
	// Events are written in completion order: a call the client gave up
	// on may finish after the client's next call, so match them up.
	matches := func(r auditRecord, i int) bool {
		w := want[i]
		errType, backend := "", ""
		if r.Outcome.ErrorType != nil {
			errType = *r.Outcome.ErrorType
		}
		if r.Target.Backend != nil {
			backend = *r.Target.Backend
		}
		return r.Target.Method == w.method && r.Target.CapabilityName == w.capability && r.Outcome.Status == w.status &&
			errType == w.errorType && backend == w.backend && (r.Source.UserID == nil) == w.userNull
	}
	used := make([]bool, len(recs))
	for i, w := range want {
		var r auditRecord
		found := false
		for j := range recs {
			if !used[j] && matches(recs[j], i) {
				used[j], r, found = true, recs[j], true
				break
			}
		}
		if !found {
			t.Errorf("no event %+v among:\n%v", w, recs)
			continue
		}
		if !w.userNull && (r.Source.UserID == nil || *r.Source.UserID != "alice") {
			t.Errorf("event %d: user_id %v", i, r.Source.UserID)
		}
		if r.Source.ClientIP == nil || *r.Source.ClientIP != "127.0.0.1" || r.EventType != "mcp_operation" {
			t.Errorf("event %d: source %+v type %s", i, r.Source, r.EventType)
		}
		if (w.status == "error") != (r.Outcome.Error != nil) || r.Outcome.LatencyMS <= 0 {
			t.Errorf("event %d: outcome %+v", i, r.Outcome)
		}
		if w.status == "success" && r.Metadata["transport"] != "streamable-http" {
			t.Errorf("event %d: metadata %v", i, r.Metadata)
		}
	}
	verifyAudit(t, file)
}

// TestE2EAuditRequiredSinkFailsClosed: while a required sink cannot run
// (its plugin was killed and cannot reopen its file), the gateway refuses
// audited calls with a clear error; once the sink is back, calls pass.
func TestE2EAuditRequiredSinkFailsClosed(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "trail")
	url, _ := startArgus(t, mgmtBlock+fmt.Sprintf(`
audit {
  sink "jsonl" "required" {
    file = %q
    host { required = true }
  }
}
`, filepath.Join(sub, "audit.jsonl"))+demoStdio(t, "demo"))
	s := connect(t, url)
	echo := func() error {
		_, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "demo_echo", Arguments: map[string]any{"message": "x"}})
		return err
	}
	if err := echo(); err != nil {
		t.Fatalf("with the sink up: %v", err)
	}
	// Make the sink unable to come back: its directory becomes a file.
	pid := sinkPID(t, url, "sink.required")
	os.RemoveAll(sub)
	os.WriteFile(sub, nil, 0o600)
	syscall.Kill(pid, syscall.SIGKILL)
	var err error
	waitFor(t, 10*time.Second, "calls refused", func() bool { err = echo(); return err != nil })
	if rpcCode(err) != -32013 || !strings.Contains(fmt.Sprint(err), "required audit sink") {
		t.Errorf("call with the required sink down: %v", err)
	}
	if names := toolNames(t, s); len(names) == 0 {
		t.Error("listing (not audited) was refused too")
	}
	// Repair: the sink restarts (with backoff) and calls pass again.
	os.Remove(sub)
	os.MkdirAll(sub, 0o700)
	waitFor(t, 40*time.Second, "calls accepted again", func() bool { return echo() == nil })
}

// TestE2EAuditGroupSIGTERM: a service manager or a terminal signals the
// whole process group, plugins included. The plugins wait for argus to stop
// them in order, so every event is written and no plugin restarts.
func TestE2EAuditGroupSIGTERM(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "audit.jsonl")
	src, addr := withListen(t, fmt.Sprintf(`
audit {
  sink "jsonl" "primary" { file = %q }
}
`, file)+demoStdio(t, "demo"))
	cfg := filepath.Join(dir, "argus.hcl")
	os.WriteFile(cfg, []byte(src), 0o600)
	cmd := exec.Command(binPath(t, testbin.Argus), "serve", "-config", cfg)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	url := "http://" + addr + "/mcp"
	if err := waitStarted(nil, addr, 20*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	const n = 300
	if failed := driveCalls(t, url, n, 4); failed != 0 {
		t.Fatalf("%d calls failed", failed)
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) // the whole group
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("argus exit: %v\n%s", err, out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("argus did not stop\n%s", out.String())
	}
	checkEachOnce(t, readAudit(t, file), n)
	if strings.Contains(out.String(), "stopped unexpectedly") {
		t.Errorf("a plugin died on the group signal:\n%s", out.String())
	}
}

// TestE2EAuditRecordsAreBounded: requests naming a 2 MB tool with a
// 100 KB id, refused for want of a token and from an authenticated
// client alike, get records of bounded size that say what they cut
// (metadata.truncated), in a chain that still verifies. A probe had 150
// such unauthenticated requests rotate every earlier record out of the
// audit files.
func TestE2EAuditRecordsAreBounded(t *testing.T) {
	url, file := auditedArgus(t, demoStdio(t, "demo"))
	name, id := strings.Repeat("n", 2<<20), strings.Repeat("i", 100<<10)
	body := `{"jsonrpc":"2.0","id":"` + id + `","method":"tools/call","params":{"name":"` + name + `","arguments":{}}}`
	post := func(token string) int {
		hdr := http.Header{"Mcp-Protocol-Version": {"2025-11-25"}}
		if token != "" {
			hdr.Set("Authorization", "Bearer "+token)
		}
		code, _ := rawPost(t, url, "", hdr, body)
		return code
	}
	if code := post(""); code != 401 {
		t.Fatalf("without a token: HTTP %d, want 401", code)
	}
	// With a token, on a session of its own.
	s := connectWithToken(t, url, "alice-token-0123456789")
	if _, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: map[string]any{}}); err == nil {
		t.Fatal("a call of an unknown 2 MB tool succeeded")
	}
	var recs []auditRecord
	waitFor(t, 10*time.Second, "both records", func() bool {
		recs = readAudit(t, file)
		return len(recs) >= 2
	})
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if len(line) > 16<<10 {
			t.Errorf("record %d: %d bytes", i, len(line))
		}
	}
	for i, r := range recs {
		cut, _ := r.Metadata["truncated"].([]any)
		if len(cut) == 0 || cut[0] != "target.capability_name" || !strings.HasSuffix(r.Target.CapabilityName, "…") {
			t.Errorf("record %d: truncated %v, capability_name of %d bytes", i, cut, len(r.Target.CapabilityName))
		}
		if *r.Outcome.ErrorType == "unauthorized" && (len(cut) < 2 || cut[len(cut)-1] != "metadata.jsonrpc_id") {
			t.Errorf("record %d (refused, with its 100 KB id): truncated %v", i, cut)
		}
	}
	verifyAudit(t, file)
}
