// Package profiling runs a program's main function under the Go runtime's
// profilers when asked to through the environment, for performance work
// (go tool pprof): a CPU profile to $ARGUS_CPUPROFILE and an allocation
// profile to $ARGUS_MEMPROFILE. A "%p" in either path is replaced by the
// process id, so that the plugin processes argus starts (argus itself,
// re-executed, with the same environment) write profiles of their own
// instead of over the host's.
package profiling

import (
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
)

// Environment variables naming the files profiles are written to; unset:
// no profile.
const (
	CPUEnv = "ARGUS_CPUPROFILE"
	MemEnv = "ARGUS_MEMPROFILE"
)

// Run runs f and returns its exit code: under a CPU profile written to
// $ARGUS_CPUPROFILE if set, and followed by an allocation profile (every
// allocation since start, sampled at the runtime's default rate) written
// to $ARGUS_MEMPROFILE if set. A profile that cannot be written is
// reported on stderr; f runs regardless.
func Run(f func() int) int {
	if path := pathFor(MemEnv); path != "" {
		defer func() {
			out, err := os.Create(path)
			if err == nil {
				err = errors.Join(pprof.Lookup("allocs").WriteTo(out, 0), out.Close())
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "argus: %s: %v\n", MemEnv, err)
			}
		}()
	}
	path := pathFor(CPUEnv)
	if path == "" {
		return f()
	}
	out, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "argus: %s: %v\n", CPUEnv, err)
		return f()
	}
	defer out.Close()
	if err := pprof.StartCPUProfile(out); err != nil {
		fmt.Fprintf(os.Stderr, "argus: %s: %v\n", CPUEnv, err)
		return f()
	}
	defer pprof.StopCPUProfile()
	return f()
}

// pathFor is the file named by the environment variable env, with "%p"
// replaced by the process id.
func pathFor(env string) string {
	return strings.ReplaceAll(os.Getenv(env), "%p", strconv.Itoa(os.Getpid()))
}
