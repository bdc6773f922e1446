package auditlog

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLastLine: the last complete line of a file, read backwards in
// chunks, whatever the line lengths.
func TestLastLine(t *testing.T) {
	long := strings.Repeat("x", 150<<10) // spans several read chunks
	for _, tc := range []struct {
		in, line string
		end      int
	}{
		{"", "", 0},
		{"torn", "", 0},
		{"a\n", "a", 2},
		{"a\nb\n", "b", 4},
		{"a\nb\ntorn", "b", 4},
		{"a\n\n", "", 3},
		{long + "\n" + long + "\n", long, 2*len(long) + 2},
		{"a\n" + long + "\n" + long, long, 2 + len(long) + 1},
		{long + "\n" + long, long, len(long) + 1},
	} {
		line, end, err := LastLine(strings.NewReader(tc.in), int64(len(tc.in)))
		if err != nil || string(line) != tc.line || end != int64(tc.end) {
			t.Errorf("LastLine(%.20q…) = %.20q…, %d, %v; want %.20q…, %d", tc.in, line, end, err, tc.line, tc.end)
		}
	}
}

// TestOpenRefusesNonRegular: a FIFO among the backups (it would block in
// open) or a device (it would never end) is refused, not opened.
func TestOpenRefusesNonRegular(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "audit.jsonl.1")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		for _, p := range []string{fifo, os.DevNull, fifo + ".gz"} {
			rc, err := Open(p)
			if err == nil {
				rc.Close()
				done <- fmt.Errorf("Open(%s) succeeded", p)
				return
			}
			if p != fifo+".gz" && !strings.Contains(err.Error(), "not a regular file") {
				done <- fmt.Errorf("Open(%s): %v", p, err)
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(10 * time.Second):
		// let the blocked open go
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
		t.Fatal("Open blocked on a FIFO")
	}
}
