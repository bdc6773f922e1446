//go:build !unix

package proc

import (
	"io/fs"
	"syscall"
	"time"
)

// procAttr: no process groups here.
func procAttr() *syscall.SysProcAttr { return nil }

// StopGroup: without process groups only the plugin itself is stopped.
func StopGroup(int, time.Duration) {}

// KillGroup: without process groups only the plugin itself is stopped.
func KillGroup(int) {}

// FileOwner: no uids here.
func FileOwner(fs.FileInfo) (int, bool) { return 0, false }
