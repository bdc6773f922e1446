//go:build !unix

package hostwatch

import (
	"os"

	"github.com/hashicorp/go-hclog"
)

// hostGone ends the plugin once its host is gone.
func hostGone(ppid int, log hclog.Logger) {
	log.Error("host process is gone, exiting", "host_pid", ppid)
	os.Exit(1)
}
