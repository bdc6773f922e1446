//go:build unix

package hostwatch

import (
	"os"
	"syscall"

	"github.com/hashicorp/go-hclog"
)

// hostGone ends the plugin once its host is gone. When the plugin leads
// its own process group (Argus starts every plugin so), the whole group is
// SIGKILLed, so the processes the plugin started die with it; otherwise
// only this process exits. The group goes first: stderr leads to the dead
// host, so logging may end the process (SIGPIPE).
func hostGone(ppid int, log hclog.Logger) {
	if pid := os.Getpid(); syscall.Getpgrp() == pid {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	log.Error("host process is gone, exiting", "host_pid", ppid)
	os.Exit(1)
}
