//go:build unix

package proc

import (
	"errors"
	"io/fs"
	"syscall"
	"time"
)

// StopGroup ends what is left of the process group pgid (a plugin's, see
// procAttr) once its leader is gone: SIGTERM, then SIGKILL to the group
// if anything of it still runs after grace.
func StopGroup(pgid int, grace time.Duration) {
	if pgid <= 1 || !signalGroup(pgid, syscall.SIGTERM) {
		return
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		if !signalGroup(pgid, 0) {
			return
		}
	}
	signalGroup(pgid, syscall.SIGKILL)
}

// KillGroup SIGKILLs the process group pgid at once.
func KillGroup(pgid int) {
	if pgid > 1 {
		signalGroup(pgid, syscall.SIGKILL)
	}
}

// signalGroup sends sig to the group; false when the group is empty.
func signalGroup(pgid int, sig syscall.Signal) bool {
	return !errors.Is(syscall.Kill(-pgid, sig), syscall.ESRCH)
}

// FileOwner is the uid owning st's file.
func FileOwner(st fs.FileInfo) (int, bool) {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return int(s.Uid), true
	}
	return 0, false
}
