package main_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestE2EGOMAXPROCSFitted: `argus serve` says at start-up how its
// GOMAXPROCS is chosen, fits it to an idle gateway's one core and logs the
// change at debug level; a GOMAXPROCS the runtime accepts is the
// operator's, and one it ignores is ignored, with a warning.
func TestE2EGOMAXPROCSFitted(t *testing.T) {
	cases := []struct {
		env, mode string
		fits      bool
	}{
		{"", "fitted to the CPU used", true},
		{"GOMAXPROCS=abc", "fitted to the CPU used", true},
		{"GOMAXPROCS=1", "set by GOMAXPROCS", false},
	}
	for _, c := range cases {
		t.Run(strings.TrimPrefix(c.env, "GOMAXPROCS="), func(t *testing.T) {
			if c.fits && runtime.NumCPU() < 2 {
				t.Skip("one CPU: nothing to fit")
			}
			cfg := writeConfig(t, fmt.Sprintf(`server { listen = %q }
log { level = "debug" }
`, freeAddr(t)))
			var env []string
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "GOMAXPROCS=") {
					env = append(env, kv)
				}
			}
			if c.env != "" {
				env = append(env, c.env)
			}
			_, out := startServe(t, cfg, env)
			want := fmt.Sprintf("gomaxprocs_mode=%q", c.mode)
			waitFor := func(what string, ok func(string) bool) {
				t.Helper()
				for deadline := time.Now().Add(30 * time.Second); !ok(out.String()); time.Sleep(50 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatalf("no %s in argus's log", what)
					}
				}
			}
			waitFor("start-up line with "+want, func(log string) bool {
				i := strings.Index(log, "starting argus")
				return i >= 0 && strings.Contains(log[i:strings.IndexByte(log[i:], '\n')+i+1], want)
			})
			if ignored := strings.Contains(out.String(), `GOMAXPROCS ignored: not a positive integer: value=abc`); ignored != (c.env == "GOMAXPROCS=abc") {
				t.Fatalf("warning that GOMAXPROCS=abc is ignored: logged %v, want %v", ignored, !ignored)
			}
			if !c.fits {
				if !strings.Contains(out.String(), "gomaxprocs=1") {
					t.Fatal("the start-up line does not show the operator's GOMAXPROCS=1")
				}
				time.Sleep(4 * time.Second) // longer than a fall takes
				if strings.Contains(out.String(), "GOMAXPROCS changed") {
					t.Fatal("argus changed the operator's GOMAXPROCS")
				}
				return
			}
			waitFor("GOMAXPROCS change to 1", func(log string) bool {
				return strings.Contains(log, "GOMAXPROCS changed") && strings.Contains(log, "to=1")
			})
		})
	}
}
