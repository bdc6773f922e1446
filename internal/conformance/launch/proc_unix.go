//go:build unix

package launch

import (
	"os"
	"syscall"
)

var (
	termSignal os.Signal = syscall.SIGTERM
	killSignal os.Signal = syscall.SIGKILL
)

// signalGroup signals the process group led by p (every child process is
// started as a group leader, see sysProcAttr).
func signalGroup(p *os.Process, sig os.Signal) error {
	if p == nil {
		return nil
	}
	err := syscall.Kill(-p.Pid, sig.(syscall.Signal))
	if err == syscall.ESRCH {
		return nil
	}
	return err
}
