package search_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/argusmcp/argus/host/audit/search"
)

// TestNotARegularFile: a FIFO or a device named as an audit file is
// refused at once. Reading one blocked forever (a FIFO without a writer
// blocks in open, where not even SIGTERM gets through) or read an endless
// "line" into memory (/dev/zero).
func TestNotARegularFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	t.Cleanup(func() {
		// let a reader blocked in open (the old behaviour) go
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	for _, p := range []string{fifo, os.DevNull} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var out, errOut bytes.Buffer
		done := make(chan error, 1)
		go func() { done <- search.Run(ctx, []string{p}, search.Options{}, &out, &errOut) }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("%s: err %v, want one saying it is not a regular file", p, err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("%s: audit query still reading after 15s", p)
		}
		cancel()
	}
}
