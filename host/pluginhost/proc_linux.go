package pluginhost

import "syscall"

// procAttr makes the kernel SIGKILL a plugin when Argus dies without a
// chance to stop it (itself SIGKILLed); the SDK's parent watch covers the
// other platforms and plugins started some other way.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
