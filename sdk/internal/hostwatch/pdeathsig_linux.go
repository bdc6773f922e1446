package hostwatch

import (
	"os"
	"syscall"

	"github.com/argusmcp/argus/shared"
)

// init replaces the parent-death signal the host set (SIGKILL, which
// would leave the plugin's own children running) by SIGTERM, which
// Start turns into killing the plugin's process group. The kernel
// keeps the signal per thread and sends the one of the process's first
// thread, which package initialisation runs on; hence init, not sdk.Serve.
// Only a process started as a plugin is touched.
func init() {
	if os.Getenv(shared.Handshake.MagicCookieKey) != shared.Handshake.MagicCookieValue {
		return
	}
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0)
}
