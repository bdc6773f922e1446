package gateway_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ,
// 100 on every Linux the benchmark runs on).
const clockTick = 10 * time.Millisecond

// treeCPUByRole is the CPU time (user + system) that the processes pids
// and all their descendants have used so far, per role of the processes
// (see procRole), read from /proc; ok is false where there is no /proc
// (the benchmark then shows no CPU column). Processes that have exited are
// no longer counted, which is fine between measurements of long-lived
// servers.
func treeCPUByRole(pids ...int) (by map[string]time.Duration, ok bool) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		return nil, false
	}
	by = map[string]time.Duration{}
	walkTree(pids, func(pid int) { by[procRole(pid)] += procCPU(pid) })
	return by, true
}

// walkTree calls visit once for each of pids and each of their
// descendants (from /proc).
func walkTree(pids []int, visit func(pid int)) {
	seen := map[int]bool{}
	var walk func(pid int)
	walk = func(pid int) {
		if seen[pid] {
			return
		}
		seen[pid] = true
		visit(pid)
		tasks, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "children"))
		for _, t := range tasks {
			b, _ := os.ReadFile(t)
			for _, f := range strings.Fields(string(b)) {
				if child, err := strconv.Atoi(f); err == nil {
					walk(child)
				}
			}
		}
	}
	for _, pid := range pids {
		walk(pid)
	}
}

// procRole names what a process of the system under test is, from its
// command line: "host" (argus serve), "plugin <name>" (a built-in plugin
// argus runs as `argus internal-plugin <name>`), "backend" (demo-server)
// or "other".
func procRole(pid int) string {
	b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	switch {
	case len(args) >= 2 && args[1] == "serve":
		return "host"
	case len(args) >= 3 && args[1] == "internal-plugin":
		return "plugin " + args[2]
	case len(args) >= 1 && strings.Contains(filepath.Base(args[0]), "demo-server"):
		return "backend"
	case len(args) >= 1 && strings.Contains(filepath.Base(args[0]), "floor-proxy"):
		return "host"
	}
	return "other"
}

// procCPU is one process's utime + stime, 0 if it cannot be read.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// count fields after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(u+st) * clockTick
}
