//go:build unix

package jsonl

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockWait is how long open waits for another writer of the same file to
// let go (a plugin process the host is still stopping).
var lockWait = 10 * time.Second

// lockFile takes an exclusive advisory lock on path + ".lock", so that two
// sink processes never append to one chain: their records would interleave
// and break it. The kernel releases the lock when the process dies, even
// by SIGKILL. Closing the returned file releases it.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(lockWait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("another process is writing %s (it holds %s.lock)", path, path)
			}
			return nil, fmt.Errorf("lock %s.lock: %w", path, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
