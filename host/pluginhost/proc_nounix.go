//go:build !unix

package pluginhost

import (
	"io/fs"
	"syscall"
	"time"
)

// procAttr: no process groups here.
func procAttr() *syscall.SysProcAttr { return nil }

// stopGroup: without process groups only the plugin itself is stopped.
func stopGroup(int, time.Duration) {}

// killGroup: without process groups only the plugin itself is stopped.
func killGroup(int) {}

// fileOwner: no uids here.
func fileOwner(fs.FileInfo) (int, bool) { return 0, false }
