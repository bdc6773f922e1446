//go:build !unix

package launch

import (
	"os"
	"syscall"
)

var (
	termSignal os.Signal = os.Kill
	killSignal os.Signal = os.Kill
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

// signalGroup kills p; without process groups its children may survive.
func signalGroup(p *os.Process, _ os.Signal) error {
	if p == nil {
		return nil
	}
	return p.Kill()
}
