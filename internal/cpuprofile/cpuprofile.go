// Package cpuprofile runs a program's main function under a CPU profile
// when $ARGUS_CPUPROFILE names a file, for performance work (go tool
// pprof).
package cpuprofile

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// Env names the file the profile is written to; unset: no profile.
const Env = "ARGUS_CPUPROFILE"

// Run runs f, under a CPU profile written to $ARGUS_CPUPROFILE if set,
// and returns its exit code. A profile that cannot be written is reported
// on stderr and f runs without it.
func Run(f func() int) int {
	path := os.Getenv(Env)
	if path == "" {
		return f()
	}
	out, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "argus: %s: %v\n", Env, err)
		return f()
	}
	defer out.Close()
	if err := pprof.StartCPUProfile(out); err != nil {
		fmt.Fprintf(os.Stderr, "argus: %s: %v\n", Env, err)
		return f()
	}
	defer pprof.StopCPUProfile()
	return f()
}
