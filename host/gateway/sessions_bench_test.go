package gateway_test

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/argusmcp/argus/internal/testbin"
)

// envManySessions is how many client sessions BenchmarkManySessions opens
// (default 10000, server.max_sessions' default).
const envManySessions = "ARGUS_BENCH_SESSIONS"

// BenchmarkManySessions is what open client sessions cost: Argus (bare,
// a stdio backend, no limit per address) with N sessions opened one
// after the other (initialize and notifications/initialized, as raw
// HTTP: no GET stream), N from ARGUS_BENCH_SESSIONS (default 10000,
// server.max_sessions' default), and, with ARGUS_BENCH_BASELINE, another
// argus binary the same way right after. It reports, per binary, the
// time to open a session (µs, the client's round trips included) over
// the first and the last 1000, the host's RSS with all of them open
// right after the last (the heap at its peak) and after
// ARGUS_BENCH_IDLE (default 1m) idle, and the latter per session. Like
// BenchmarkHop it ignores b.N; run with -benchtime 1x:
//
//	go test -run '^$' -bench BenchmarkManySessions -benchtime 1x ./host/gateway/
func BenchmarkManySessions(b *testing.B) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		b.Skip("needs /proc")
	}
	n := 10000
	if s := os.Getenv(envManySessions); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 2000 {
			b.Fatalf("%s=%q: want a number of sessions, at least 2000", envManySessions, s)
		}
		n = v
	}
	idle := idleTime(b)
	bins := []struct{ key, path string }{{"argus", binPath(b, testbin.Argus)}}
	if base := os.Getenv(envHopBaseline); base != "" {
		bins = append(bins, struct{ key, path string }{"baseline", base})
	}
	cfg := "server {\n  max_sessions_per_ip = 0\n}\nlog {\n  level = \"warn\"\n}\naudit {\n  enabled = false\n}\n" + demoStdio(b, "demo")
	b.ReportMetric(0, "ns/op")
	for _, bin := range bins {
		url, proc := startArgusBin(b, bin.path, cfg)
		pid := proc.Cmd.Process.Pid
		start := vmRSS(pid)
		var first, last time.Duration
		t0 := time.Now()
		for i := range n {
			if i == 1000 {
				first = time.Since(t0)
			}
			if i == n-1000 {
				t0 = time.Now()
			}
			openSession(b, url)
		}
		last = time.Since(t0)
		open := vmRSS(pid)
		time.Sleep(idle)
		idled := vmRSS(pid)
		perSession := float64(idled-start) / float64(n) / 1024
		b.Run(bin.key, func(b *testing.B) {
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(first.Microseconds())/1000, "first-1000-µs/session")
			b.ReportMetric(float64(last.Microseconds())/1000, "last-1000-µs/session")
			b.ReportMetric(float64(open)/(1<<20), "rss-open-MB")
			b.ReportMetric(float64(idled)/(1<<20), "rss-idle-MB")
			b.ReportMetric(perSession, "KB/session")
		})
		fmt.Printf("\nBenchmarkManySessions %s: %d sessions, %.0f µs per session over the first 1000, %.0f over the last 1000; host RSS %.1f MB before, %.1f MB with all open, %.1f MB after %v idle (%.1f KB a session)\n",
			bin.key, n, float64(first.Microseconds())/1000, float64(last.Microseconds())/1000,
			float64(start)/(1<<20), float64(open)/(1<<20), float64(idled)/(1<<20), idle, perSession)
		if err := proc.Stop(); err != nil {
			b.Errorf("%s: exit: %v", bin.key, err)
		}
	}
}

// openSession opens one stateful session at url with raw HTTP, as a
// client that wants no GET stream: initialize, then
// notifications/initialized.
func openSession(tb testing.TB, url string) {
	tb.Helper()
	version := http.Header{"Mcp-Protocol-Version": {clientProtocolVersion}}
	resp, body := postRaw(tb, url, "", version, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"`+clientProtocolVersion+`","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || sid == "" {
		tb.Fatalf("initialize: HTTP %d, session id %q: %s", resp.StatusCode, sid, body)
	}
	if code, body := rawPost(tb, url, sid, version, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); code != http.StatusAccepted {
		tb.Fatalf("notifications/initialized: HTTP %d: %s", code, body)
	}
}
