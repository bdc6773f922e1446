package launch

import "syscall"

// sysProcAttr starts a child as the leader of a new process group (so the
// whole group can be stopped, and a terminal's Ctrl-C reaches only the
// harness) that the kernel kills if the harness itself dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
