package container_test

import (
	"os"
	"syscall"
)

// fileUID is the owner of a file (Linux, where the container test runs).
func fileUID(fi os.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}
