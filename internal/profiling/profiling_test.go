package profiling

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestRunWritesProfilesPerProcess: "%p" in the paths becomes the process
// id, and both profiles are written and not empty.
func TestRunWritesProfilesPerProcess(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(CPUEnv, filepath.Join(dir, "cpu-%p.pprof"))
	t.Setenv(MemEnv, filepath.Join(dir, "mem-%p.pprof"))
	if code := Run(func() int { return 3 }); code != 3 {
		t.Fatalf("exit code %d, want f's 3", code)
	}
	pid := strconv.Itoa(os.Getpid())
	for _, name := range []string{"cpu-" + pid + ".pprof", "mem-" + pid + ".pprof"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v (size %v)", name, err, fi)
		}
	}
}
