//go:build unix && !linux

package proc

import "syscall"

// procAttr starts a plugin as the leader of a process group of its own.
// Only Linux has a parent-death signal; plugins built with the SDK watch
// their parent themselves.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
