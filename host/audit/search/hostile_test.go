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

// TestOverlongLine: a line longer than MaxLine (a damaged or hostile file)
// is skipped and reported without being held in memory; the events around
// it are still read, in the active file and at the end of a backup.
func TestOverlongLine(t *testing.T) {
	dir := t.TempDir()
	ev := func(id, ts string) string {
		return `{"timestamp":"` + ts + `","event_id":"` + id + `","source":{"user_id":"alice"},` +
			`"target":{"backend":"b","capability_name":"b_echo"},"outcome":{"status":"success","latency_ms":1}}`
	}
	huge := strings.Repeat("x", search.MaxLine+1)
	// the backup (older) ends in an over-long line without a newline
	backup := ev("e1", "2026-11-30T10:00:01Z") + "\n" + huge
	active := ev("e2", "2026-11-30T10:00:02Z") + "\n" + huge + "\n" + ev("e3", "2026-11-30T10:00:03Z") + "\n"
	base := filepath.Join(dir, "audit.jsonl")
	if err := os.WriteFile(base+".1", []byte(backup), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base, []byte(active), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err := search.Main(context.Background(), []string{"--all", "--output", "jsonl", base}, &out, &errOut)
	if err == nil {
		t.Error("skipped lines but no error")
	}
	for _, id := range []string{"e1", "e2", "e3"} {
		if !strings.Contains(out.String(), `"event_id":"`+id+`"`) {
			t.Errorf("event %s missing from the output:\n%.300s", id, out.String())
		}
	}
	if strings.Contains(out.String(), "xxxx") {
		t.Error("the over-long line reached the output")
	}
	for _, want := range []string{base + ".1 line 2", base + " line 2", "longer than"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, errOut.String())
		}
	}
}
