// Package hostwatch ties a plugin process to its host (Argus): SIGTERM is
// held while the host lives, and once the host is gone (a SIGTERM that
// comes with a new parent, which is the parent-death signal on Linux, or
// the parent watch seeing the parent change) the plugin kills the process
// group it leads and exits, so nothing it started survives.
package hostwatch

import (
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/argusmcp/argus/shared"
)

// startPPID is the parent (the host) as the process started.
var startPPID = os.Getppid()

// Start holds SIGTERM while the host (the process's parent at start) lives
// and ends the plugin once it is gone. It does nothing in a process not
// started as a plugin (run by hand, or a test). It returns at once; the
// watch runs for the life of the process.
func Start(log hclog.Logger) {
	if os.Getenv(shared.Handshake.MagicCookieKey) == shared.Handshake.MagicCookieValue {
		watchHost(startPPID, log)
	}
}

// watchHost holds SIGTERM while the host (ppid) lives and ends the plugin
// once it is gone: on a SIGTERM that comes with a new parent (the
// parent-death signal), or when the parent watch sees the parent change.
func watchHost(ppid int, log hclog.Logger) {
	terms := make(chan os.Signal, 1)
	signal.Notify(terms, syscall.SIGTERM)
	gone := func() bool { return ppid > 1 && os.Getppid() != ppid }
	if gone() {
		hostGone(ppid, log)
	}
	go func() {
		for range terms {
			if gone() {
				hostGone(ppid, log)
			}
			log.Debug("SIGTERM ignored: the host stops the plugin")
		}
	}()
	go watchParent(ppid, 250*time.Millisecond, log)
}

// watchParent ends the process once its parent has gone: the kernel then
// re-parents it (to init or a subreaper), so the parent pid changes.
func watchParent(ppid int, every time.Duration, log hclog.Logger) {
	if ppid <= 1 {
		return
	}
	for range time.Tick(every) {
		if os.Getppid() != ppid {
			hostGone(ppid, log)
		}
	}
}
