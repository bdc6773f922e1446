package gateway_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/health"
	"github.com/argusmcp/argus/host/manage"
	"github.com/argusmcp/argus/internal/testbin"
)

// silentListener accepts TCP connections and never answers on them: a
// backend that is up as far as the network can tell, and stuck.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// hangingPlugin writes a plugin executable that never completes its
// handshake into a new plugin directory.
func hangingPlugin(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "argus-plugin-"+name), []byte("#!/bin/sh\nexec sleep 3600\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestE2EStartupDoesNotWaitForStuckBackend: with one backend that accepts
// connections and never replies, and a health probe plugin that never
// completes its handshake, the listener opens at once; /ready answers 503
// naming the stuck backend while the other backend already serves, then
// 200 once the stuck backend's first attempt has timed out.
func TestE2EStartupDoesNotWaitForStuckBackend(t *testing.T) {
	const connectTimeout = 6 * time.Second
	src, addr := withListen(t, fmt.Sprintf(`plugin_dir = %q
backend "stuck" {
  type            = "streamable-http"
  url             = "http://%s/mcp"
  connect_timeout = %q
  connect_retries = 0
}
health {
  probe "hang" "p" {}
}
`, hangingPlugin(t, "hang"), silentListener(t), connectTimeout.String())+demoStdio(t, "alpha")+mgmtBlock)
	path := filepath.Join(t.TempDir(), "argus.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := binPath(t, testbin.Argus)
	start := time.Now()
	proc := startProc(t, "argus["+addr+"]", bin, "serve", "-config", path)
	if err := waitListening(proc, addr, startTimeout); err != nil {
		t.Fatal(err)
	}
	// "At once" is measured on argus's own clock, from its first log line
	// to its "listening" line: the wall clock here also counts exec and the
	// runtime's start, which take seconds on a loaded machine (3.2 s seen
	// under the race detector, 250 ms of it in argus).
	t.Logf("accepting connections %v after exec (stuck backend's connect_timeout %v)", time.Since(start), connectTimeout)
	var listening time.Duration
	waitFor(t, 10*time.Second, `argus's "listening" log line`, func() bool {
		var ok bool
		listening, ok = logGap(t, proc.Stderr.String(), "starting argus", "listening")
		return ok
	})
	t.Logf("listening %v after argus started", listening)
	if listening > time.Second {
		t.Errorf("listener opened %v after argus started, want within 1s", listening)
	}
	url := "http://" + addr + "/mcp"

	var r manage.Ready
	if code := mgmt(t, url, "GET", "/ready", "", &r); code != 503 || r.Ready || !r.Starting || !strings.Contains(r.Reason, `backend "stuck"`) {
		t.Errorf("ready during start-up: %d %+v", code, r)
	}
	// The other backend serves meanwhile.
	s := connect(t, url)
	waitFor(t, 30*time.Second, "alpha's tools", func() bool {
		res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "alpha_echo", Arguments: map[string]any{"message": "early"}})
		return err == nil && !res.IsError && text(t, res) == "early"
	})
	if code := mgmt(t, url, "GET", "/ready", "", &r); time.Since(start) < connectTimeout && (code != 503 || !strings.Contains(r.Reason, `backend "stuck"`)) {
		t.Errorf("ready while alpha serves and stuck connects: %d %+v", code, r)
	}

	waitFor(t, connectTimeout+20*time.Second, "start-up to finish", func() bool {
		return mgmt(t, url, "GET", "/ready", "", &r) == 200
	})
	if !r.Ready || r.Starting {
		t.Errorf("ready after start-up: %+v", r)
	}
	// Failed, or already Initializing again for its next attempt.
	if b := backendStatus(t, url, "stuck"); (b.Phase != health.Failed && b.Phase != health.Initializing) || !strings.Contains(b.Error, "no answer to initialize") {
		t.Errorf("stuck backend: %s %q", b.Phase, b.Error)
	}
	if took := time.Since(start); took < connectTimeout {
		t.Errorf("start-up finished after %v, before the stuck backend's connect_timeout", took)
	}
}

// logGap is the time between the first log line with message from and
// the first with message to in argus's text log output, by the
// timestamps argus wrote; ok is false until both lines are there.
func logGap(t *testing.T, out, from, to string) (gap time.Duration, ok bool) {
	t.Helper()
	stamp := func(msg string) (time.Time, bool) {
		for _, line := range strings.Split(out, "\n") {
			if !strings.Contains(line, " argus: "+msg+":") {
				continue
			}
			ts, err := time.Parse(time.RFC3339, strings.Fields(line)[0])
			if err != nil {
				t.Fatalf("log line without a timestamp: %q", line)
			}
			return ts, true
		}
		return time.Time{}, false
	}
	a, okA := stamp(from)
	b, okB := stamp(to)
	return b.Sub(a), okA && okB
}

// TestE2EShutdownBoundedWithHangingPlugin: a plugin that never completes
// its handshake, used as an audit sink (which therefore cannot drain the
// events queued for it) and as a probe, does not stretch shutdown beyond
// shutdown_timeout, and healthy plugins still shut down cleanly: no
// "no reply in time" for them.
func TestE2EShutdownBoundedWithHangingPlugin(t *testing.T) {
	const shutdownTimeout = 3 * time.Second
	dir := t.TempDir()
	url, proc := startArgus(t, fmt.Sprintf(`plugin_dir = %q
server {
  shutdown_timeout = %q
}
audit {
  sink "hang" "stuck" {}
  sink "jsonl" "ok" {
    file = %q
  }
}
health {
  probe "hang" "p" {}
  probe "ping" "default" {}
}
`, hangingPlugin(t, "hang"), shutdownTimeout.String(), filepath.Join(dir, "audit.jsonl"))+demoStdio(t, "alpha"))
	s := connect(t, url)
	if _, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "alpha_echo", Arguments: map[string]any{"message": "x"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the healthy sink to write the call", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "audit.jsonl"))
		return strings.Contains(string(b), `"tools/call"`) || strings.Contains(string(b), `"call_tool"`)
	})
	start := time.Now()
	proc.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-proc.Done():
	case <-time.After(shutdownTimeout + 20*time.Second):
		t.Fatal("argus did not exit")
	}
	took := time.Since(start)
	t.Logf("shutdown took %v (shutdown_timeout %v)", took, shutdownTimeout)
	if took > shutdownTimeout+1500*time.Millisecond {
		t.Errorf("shutdown took %v, want within shutdown_timeout %v + 1.5s", took, shutdownTimeout)
	}
	out := proc.Stderr.String()
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "no reply in time") && !strings.Contains(line, "stuck") && !strings.Contains(line, "probe.p") {
			t.Errorf("a healthy plugin did not shut down cleanly: %s", line)
		}
	}
}
