// Package leakcheck fails a test that leaves goroutines behind.
//
// It is a few lines instead of go.uber.org/goleak because what we need is
// narrow: goroutines that exist at the end of a test but not at its start,
// waiting a moment for those that are on their way out.
package leakcheck

import (
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// Check records the goroutines running now and, when the test ends, fails
// it if new ones are still running after a grace period of up to 5 s.
// Tests that use it must not run in parallel with others.
func Check(t testing.TB) {
	t.Helper()
	before := ids(stacks())
	t.Cleanup(func() {
		var leaked []string
		deadline := time.Now().Add(5 * time.Second)
		for {
			leaked = leaked[:0]
			for _, g := range stacks() {
				if !slices.Contains(before, id(g)) && !benign(g) {
					leaked = append(leaked, g)
				}
			}
			if len(leaked) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if len(leaked) > 0 {
			t.Errorf("%d goroutines leaked:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
	})
}

// benign are goroutines the runtime or the test framework start on demand.
func benign(g string) bool {
	for _, s := range []string{
		"testing.(*T).Run", "testing.tRunner", "testing.runTests", "testing.(*M).",
		"runtime.goexit\n", "os/signal.signal_recv", "os/signal.loop",
		"runtime/trace", "runtime.ensureSigM",
	} {
		if strings.Contains(firstFrames(g), s) {
			return true
		}
	}
	return false
}

func firstFrames(g string) string {
	lines := strings.SplitN(g, "\n", 4)
	return strings.Join(lines[:min(len(lines), 3)], "\n")
}

func stacks() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.HasPrefix(g, "goroutine ") && !strings.Contains(g, "leakcheck.stacks") {
			out = append(out, g)
		}
	}
	return out
}

func id(g string) string {
	f := strings.Fields(g)
	if len(f) < 2 {
		return ""
	}
	return f[1]
}

func ids(gs []string) []string {
	var out []string
	for _, g := range gs {
		out = append(out, id(g))
	}
	return out
}
