//go:build !linux

package pluginhost

import "syscall"

// procAttr: only Linux has a parent-death signal; plugins built with the
// SDK watch their parent themselves.
func procAttr() *syscall.SysProcAttr { return nil }
