package jsonl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/argusmcp/argus/internal/leakcheck"
	"github.com/argusmcp/argus/internal/syncbuf"
	"github.com/argusmcp/argus/sdk"
	"github.com/argusmcp/argus/sdk/sdktest"
	"github.com/argusmcp/argus/shared/auditlog"
	auditverify "github.com/argusmcp/argus/shared/auditlog/verify"
)

func testConfig(dir string) config {
	return config{
		File:          filepath.Join(dir, "audit.jsonl"),
		BackupCount:   5,
		Fsync:         fsyncNever,
		FsyncInterval: time.Second,
		Rotation:      rotationNumbered,
	}
}

// start opens a sink; it is closed when the test ends unless the test
// "crashes" it first by simply starting another on the same file.
func start(t *testing.T, c config) (*sink, *syncbuf.Buffer) {
	t.Helper()
	logs := &syncbuf.Buffer{}
	s, err := open(c, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s, logs
}

// crash stops s as a SIGKILL would: no flush, no fsync; the process's
// descriptors (and with them its lock) simply go.
func crash(s *sink) {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if s.stop != nil {
		close(s.stop)
		<-s.done
	}
	s.file.close()
	if s.lock != nil {
		s.lock.Close()
	}
}

func write(t *testing.T, s *sink, events []sdk.Event, batch int) {
	t.Helper()
	for len(events) > 0 {
		n := min(batch, len(events))
		if err := s.Write(context.Background(), events[:n]); err != nil {
			t.Fatal(err)
		}
		events = events[n:]
	}
}

// padded makes events of roughly size bytes each.
func padded(first uint64, n, size int) []sdk.Event {
	out := sdktest.AuditEvents(first, n)
	for i := range out {
		out[i].JSON = fmt.Appendf(bytes.TrimSuffix(out[i].JSON, []byte("}")), `,"pad":%q}`, strings.Repeat("p", max(0, size-len(out[i].JSON))))
	}
	return out
}

// verify checks the chain across base and its backups and returns the
// delivery seqs of all records, oldest first.
func verify(t *testing.T, base string, key []byte) (auditverify.ChainReport, []uint64) {
	t.Helper()
	files, err := auditlog.Files(base)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := verifyChain(files, key)
	if err != nil || !rep.OK() {
		t.Fatalf("verify %v: %v, %v", files, rep, err)
	}
	var seqs []uint64
	for _, f := range files {
		rc, err := auditlog.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(rc)
		rc.Close()
		for _, line := range bytes.Split(bytes.TrimSuffix(b.Bytes(), []byte("\n")), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			rec, err := auditlog.Parse(line)
			if err != nil {
				t.Fatal(err)
			}
			seqs = append(seqs, rec.Delivery.Seq)
		}
	}
	return rep, seqs
}

func wantSeqs(t *testing.T, got []uint64, first, last uint64) {
	t.Helper()
	if len(got) != int(last-first+1) {
		t.Fatalf("%d records (%v…), want seq %d-%d once each", len(got), got[:min(len(got), 10)], first, last)
	}
	for i, s := range got {
		if s != first+uint64(i) {
			t.Fatalf("record %d has delivery seq %d, want %d", i, s, first+uint64(i))
		}
	}
}

// TestChainAcrossRotationAndRestarts writes through many rotations and
// three crashes, replaying overlapping batches after each as the host
// does, and verifies one intact chain holding every event once.
func TestChainAcrossRotationAndRestarts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		backups int
		key     []byte
	}{
		{"all backups kept", 100, nil},
		{"oldest rotated away", 3, nil},
		{"hmac", 100, []byte("0123456789abcdef0123456789abcdef")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(t.TempDir())
			c.MaxBytes, c.BackupCount, c.Key = 8<<10, tc.backups, tc.key
			events := padded(1, 400, 700)
			s, _ := start(t, c)
			written := 0
			for _, upto := range []int{90, 200, 333, 400} {
				write(t, s, events[written:upto], 37)
				written = upto
				// Crash, and a new process on the same file, to which
				// the host sends everything again from a bit earlier.
				crash(s)
				s, _ = start(t, c)
				write(t, s, events[max(0, written-50):written], 16)
			}
			rep, seqs := verify(t, c.File, tc.key)
			entries, _ := auditlog.Files(c.File)
			if tc.backups == 100 {
				if !rep.Genesis || rep.LastSeq != 400 {
					t.Fatalf("report = %+v", rep)
				}
				wantSeqs(t, seqs, 1, 400)
			} else {
				if rep.Genesis || len(entries) != tc.backups+1 || rep.LastSeq != 400 {
					t.Fatalf("%d files, report %+v", len(entries), rep)
				}
				wantSeqs(t, seqs, seqs[0], 400)
			}
			for _, f := range entries {
				if info, _ := os.Stat(f); info.Size() >= c.MaxBytes {
					t.Errorf("%s is %d bytes, limit %d", f, info.Size(), c.MaxBytes)
				}
			}
			if tc.key != nil {
				files, _ := auditlog.Files(c.File)
				if rep, err := verifyChain(files, []byte("another key of 16+ bytes")); err != nil || rep.OK() || rep.Problem.Kind != auditverify.Altered {
					t.Fatalf("verify with a wrong key = %v, %v", rep, err)
				}
			}
		})
	}
}

func TestFileModes(t *testing.T) {
	root := t.TempDir()
	c := testConfig(filepath.Join(root, "a", "b"))
	c.MaxBytes, c.BackupCount = 1000, 2
	s, _ := start(t, c)
	write(t, s, padded(1, 10, 300), 3)
	for _, dir := range []string{filepath.Join(root, "a"), filepath.Join(root, "a", "b")} {
		if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
			t.Fatalf("%s: %v, %v; want 0700", dir, st.Mode(), err)
		}
	}
	files, _ := auditlog.Files(c.File)
	if len(files) != 3 {
		t.Fatalf("files = %v", files)
	}
	for _, f := range files {
		if st, err := os.Stat(f); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, %v; want 0600", f, st.Mode(), err)
		}
	}
}

func TestTornLastLine(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tail    func(last []byte) []byte // appended after two good records
		wantErr string
		wantLog string
	}{
		{name: "torn record", tail: func(good []byte) []byte { return good[:len(good)/4] },
			wantLog: "truncated the torn last line"},
		{name: "just the opening brace", tail: func([]byte) []byte { return []byte("{") },
			wantLog: "bytes=1"},
		{name: "a whole record without its newline", wantLog: "added the missing newline",
			tail: func(good []byte) []byte {
				chain := auditlog.NewChain(nil)
				chain.Resume(bytes.SplitAfter(good, []byte("\n"))[1])
				line, _ := chain.Seal(sdktest.AuditEvents(3, 1)[0].JSON, "", 3)
				return bytes.TrimSuffix(line, []byte("\n"))
			}},
		{name: "not an audit file", tail: func([]byte) []byte { return []byte("plain text, no newline") },
			wantErr: "not a JSON object: it is not an audit file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(t.TempDir())
			s, _ := start(t, c)
			write(t, s, sdktest.AuditEvents(1, 2), 2)
			s.Close(context.Background())
			good, _ := os.ReadFile(c.File)
			tail := tc.tail(good)
			os.WriteFile(c.File, append(bytes.Clone(good), tail...), 0o600)

			logs := &syncbuf.Buffer{}
			s2, err := open(c, slog.New(slog.NewTextHandler(logs, nil)))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("open = %v, want %q", err, tc.wantErr)
				}
				if b, _ := os.ReadFile(c.File); !bytes.Equal(b, append(good, tail...)) {
					t.Fatal("the file was changed")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close(context.Background())
			if !strings.Contains(logs.String(), tc.wantLog) || !strings.Contains(logs.String(), "level=WARN") {
				t.Fatalf("log = %q, want a warning with %q", logs, tc.wantLog)
			}
			write(t, s2, sdktest.AuditEvents(1, 5), 5) // replay: 1-2 (and 3) are there
			_, seqs := verify(t, c.File, nil)
			wantSeqs(t, seqs, 1, 5)
		})
	}
}

func TestNotARecord(t *testing.T) {
	c := testConfig(t.TempDir())
	os.WriteFile(c.File, []byte("{\"a\":1}\n"), 0o600)
	if _, err := open(c, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "move the file aside") {
		t.Fatalf("open = %v", err)
	}
}

// TestResumeFromBackup: a crash right after a rotation leaves an empty
// current file; the chain continues from the newest backup.
func TestResumeFromBackup(t *testing.T) {
	for _, rotation := range []string{rotationNumbered, rotationTimestamp} {
		t.Run(rotation, func(t *testing.T) {
			c := testConfig(t.TempDir())
			c.Rotation, c.MaxSizeMB = rotation, 1
			s, _ := start(t, c)
			write(t, s, padded(1, 6, 1000), 6)
			s.Close(context.Background())
			backup := c.File + ".1"
			if rotation == rotationTimestamp {
				backup = filepath.Join(filepath.Dir(c.File), "audit-2026-01-01T00-00-00.000.jsonl")
			}
			if err := os.Rename(c.File, backup); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(c.File, nil, 0o600)
			s, _ = start(t, c)
			write(t, s, padded(1, 10, 1000), 4) // 1-6 again, then 7-10
			_, seqs := verify(t, c.File, nil)
			wantSeqs(t, seqs, 1, 10)
		})
	}
}

func TestInvalidEventsAreRecorded(t *testing.T) {
	c := testConfig(t.TempDir())
	s, logs := start(t, c)
	events := []sdk.Event{
		{Seq: 1, JSON: []byte("{\"event_type\":\"mcp_operation\",\"metadata\":{\"note\":\"caf\xe9 \xff\"}}")},
		{Seq: 2, JSON: []byte("not json \xff")},
		{Seq: 3, JSON: []byte(`{"integrity":"forged"}`)},
		{Seq: 4, JSON: []byte(`{"event_type":"mcp_operation"}`)},
	}
	write(t, s, events, 4)
	b, _ := os.ReadFile(c.File)
	if !utf8.Valid(b) {
		t.Fatalf("file is not UTF-8: %q", b)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 4 ||
		!strings.Contains(lines[0], `"note":"caf`+"\uFFFD \uFFFD"+`"`) ||
		!strings.Contains(lines[1], `"event_type":"argus_invalid_event"`) || !strings.Contains(lines[1], `"raw":"not json `+"\uFFFD"+`"`) ||
		!strings.Contains(lines[2], `"raw":"{\"integrity\":\"forged\"}"`) ||
		!strings.HasPrefix(lines[3], `{"event_type":"mcp_operation","delivery"`) {
		t.Fatalf("records:\n%s", b)
	}
	if strings.Count(logs.String(), "level=ERROR") != 2 {
		t.Fatalf("log = %s", logs)
	}
	_, seqs := verify(t, c.File, nil)
	wantSeqs(t, seqs, 1, 4)
}

func TestAcks(t *testing.T) {
	ctx := context.Background()
	waitAck := func(s *sink, want uint64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for s.Acked() != want {
			if time.Now().After(deadline) {
				t.Fatalf("Acked = %d, want %d", s.Acked(), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	withFsync := func(t *testing.T, mode string, interval time.Duration) *sink {
		c := testConfig(t.TempDir())
		c.Fsync, c.FsyncInterval = mode, interval
		s, _ := start(t, c)
		return s
	}
	for _, mode := range []string{fsyncAlways, fsyncNever} {
		t.Run(mode, func(t *testing.T) {
			s := withFsync(t, mode, time.Second)
			write(t, s, sdktest.AuditEvents(1, 10), 10)
			if s.Acked() != 10 {
				t.Fatalf("Acked = %d after Write, want 10", s.Acked())
			}
		})
	}
	t.Run("interval lags until Flush", func(t *testing.T) {
		s := withFsync(t, fsyncInterval, time.Hour)
		write(t, s, sdktest.AuditEvents(1, 10), 10)
		if s.Acked() != 0 {
			t.Fatalf("Acked = %d before any fsync, want 0", s.Acked())
		}
		if err := s.Flush(ctx); err != nil || s.Acked() != 10 {
			t.Fatalf("Flush: %v, Acked = %d, want 10", err, s.Acked())
		}
	})
	t.Run("interval advances on its own", func(t *testing.T) {
		s := withFsync(t, fsyncInterval, 20*time.Millisecond)
		write(t, s, sdktest.AuditEvents(1, 10), 10)
		waitAck(s, 10)
		write(t, s, sdktest.AuditEvents(11, 5), 5)
		waitAck(s, 15)
		// Replayed events the file already holds count as written.
		write(t, s, sdktest.AuditEvents(1, 15), 15)
		if s.Acked() != 15 {
			t.Fatalf("Acked = %d", s.Acked())
		}
	})
	t.Run("Close acknowledges everything", func(t *testing.T) {
		s := withFsync(t, fsyncInterval, time.Hour)
		write(t, s, sdktest.AuditEvents(1, 7), 7)
		if err := s.Close(ctx); err != nil || s.Acked() != 7 {
			t.Fatalf("Close: %v, Acked = %d", err, s.Acked())
		}
		if err := s.Write(ctx, sdktest.AuditEvents(8, 1)); err == nil {
			t.Fatal("Write after Close succeeded")
		}
		if err := s.Close(ctx); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

// TestIntervalSyncUnderRotation runs the background fsync beside writes
// that rotate constantly (for the race detector), and checks that the
// syncer's goroutine ends with Close.
func TestIntervalSyncUnderRotation(t *testing.T) {
	leakcheck.Check(t)
	c := testConfig(t.TempDir())
	c.Fsync, c.FsyncInterval, c.MaxBytes, c.BackupCount = fsyncInterval, time.Millisecond, 4<<10, 1000
	s, err := open(c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	write(t, s, padded(1, 1000, 500), 7)
	if err := s.Close(context.Background()); err != nil || s.Acked() != 1000 {
		t.Fatalf("Close: %v, Acked = %d", err, s.Acked())
	}
	_, seqs := verify(t, c.File, nil)
	wantSeqs(t, seqs, 1, 1000)
}

// failing fails one write after the first ok records.
type failing struct {
	logFile
	ok     int
	failed bool
}

func (f *failing) write(buf []byte, ends []int) (int, error) {
	if f.failed || f.ok >= len(ends) {
		f.ok -= len(ends)
		return f.logFile.write(buf, ends)
	}
	f.failed = true
	n, err := f.logFile.write(buf[:ends[f.ok-1]], ends[:f.ok])
	if err != nil {
		return n, err
	}
	return n, errors.New("disk full")
}

// TestWriteFailureRewindsChain: records that did not reach the file leave
// no gap in the chain when the host sends them again.
func TestWriteFailureRewindsChain(t *testing.T) {
	c := testConfig(t.TempDir())
	s, _ := start(t, c)
	f := &failing{logFile: s.file, ok: 13}
	s.file = f
	ctx := context.Background()
	events := sdktest.AuditEvents(1, 30)
	if err := s.Write(ctx, events[:10]); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, events[10:20]); err == nil {
		t.Fatal("Write succeeded")
	}
	if err := s.Write(ctx, events[10:30]); err != nil { // the host's retry
		t.Fatal(err)
	}
	_, seqs := verify(t, c.File, nil)
	wantSeqs(t, seqs, 1, 30)
}

// TestTimestampRotation: lumberjack's rotation keeps the chain, across a
// restart too, with and without compression.
func TestTimestampRotation(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("compress=%t", compress), func(t *testing.T) {
			c := testConfig(t.TempDir())
			c.Rotation, c.MaxSizeMB, c.BackupCount, c.Compress, c.Fsync = rotationTimestamp, 1, 100, compress, fsyncAlways
			events := padded(1, 360, 10<<10) // 3.6 MiB: three rotations
			s, _ := start(t, c)
			write(t, s, events[:200], 64)
			crash(s)
			if compress {
				// crash cannot stop lumberjack's compression goroutine as
				// a real crash would; a second one racing it on the same
				// backup (the restarted sink's) loses that backup. Let it
				// finish first.
				waitCompressed(t, filepath.Dir(c.File))
			}
			s, _ = start(t, c)
			write(t, s, events[150:], 64)
			s.Close(context.Background())
			pattern := filepath.Join(filepath.Dir(c.File), "audit-*.jsonl")
			if compress {
				pattern += ".gz"
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				// lumberjack compresses in the background.
				m, _ := filepath.Glob(pattern)
				all, _ := filepath.Glob(filepath.Join(filepath.Dir(c.File), "audit-*"))
				if len(m) == 3 && len(all) == 3 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("backups = %v, want 3 matching %s", all, pattern)
				}
				time.Sleep(20 * time.Millisecond)
			}
			_, seqs := verify(t, c.File, nil)
			wantSeqs(t, seqs, 1, 360)
			files, _ := auditlog.Files(c.File)
			for _, f := range files {
				if st, _ := os.Stat(f); st.Size() > 1<<20 || st.Mode().Perm() != 0o600 {
					t.Errorf("%s: %d bytes, mode %v", f, st.Size(), st.Mode())
				}
			}
		})
	}
}

func TestTimestampOversizedEvent(t *testing.T) {
	c := testConfig(t.TempDir())
	c.Rotation, c.MaxSizeMB = rotationTimestamp, 1
	s, logs := start(t, c)
	write(t, s, append(padded(1, 1, 100), padded(2, 2, 2<<20)...), 3)
	_, seqs := verify(t, c.File, nil)
	wantSeqs(t, seqs, 1, 3)
	b, _ := os.ReadFile(c.File)
	if bytes.Count(b, []byte(`"event_type":"argus_invalid_event"`)) != 2 || !strings.Contains(logs.String(), "more than max_size_mb") {
		t.Fatalf("oversized events not recorded as invalid: %d bytes; log %s", len(b), logs)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	c := testConfig(dir)
	c.File = dir
	if _, err := open(c, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("open of a directory succeeded")
	}
	c.File = filepath.Join(dir, "f", "audit.jsonl")
	os.WriteFile(filepath.Join(dir, "f"), nil, 0o600)
	if _, err := open(c, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("open below a file succeeded")
	}
}

func TestOneWriterPerFile(t *testing.T) {
	defer func(d time.Duration) { lockWait = d }(lockWait)
	lockWait = 100 * time.Millisecond
	c := testConfig(t.TempDir())
	s, _ := start(t, c)
	if _, err := open(c, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "another process is writing") {
		t.Fatalf("second open = %v", err)
	}
	s.Close(context.Background())
	s2, _ := start(t, c)
	write(t, s2, sdktest.AuditEvents(1, 3), 3)
	crash(s2) // the lock goes with the process
	start(t, c)
}

// verifyChain verifies files holding one chain, against its head file.
func verifyChain(files []string, key []byte) (auditverify.ChainReport, error) {
	rep, err := auditverify.Verify(files, auditverify.Options{Key: key, FindHeads: true})
	if err != nil {
		return auditverify.ChainReport{}, err
	}
	if len(rep.Chains) != 1 {
		return auditverify.ChainReport{}, fmt.Errorf("%d chains, want 1", len(rep.Chains))
	}
	return rep.Chains[0], nil
}

// waitCompressed waits until no timestamped backup in dir is still plain.
func waitCompressed(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		plain, _ := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
		if len(plain) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("backups still being compressed: %v", plain)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
