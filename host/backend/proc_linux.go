package backend

import "syscall"

// childProcAttr makes a stdio backend die with Argus even when Argus is
// killed without a chance to clean up (SIGKILL): the kernel sends the child
// SIGKILL when its parent exits.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
