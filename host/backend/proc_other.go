//go:build !linux

package backend

import "syscall"

func childProcAttr() *syscall.SysProcAttr { return nil }
