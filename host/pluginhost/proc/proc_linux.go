package proc

import "syscall"

// procAttr starts a plugin as the leader of a process group of its own,
// so that stopping it reaches everything it started (see StopGroup) and a
// terminal's Ctrl-C does not; and it makes the kernel SIGKILL the plugin
// when Argus dies without a chance to stop it (itself SIGKILLed). Plugins
// built with the SDK turn that signal into killing their whole group.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
