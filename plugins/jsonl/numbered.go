package jsonl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// logFile is where sealed records go; it decides which file each lands in.
// Calls are serialized by the sink.
type logFile interface {
	// write appends the records buf holds (ends[i] is where record i
	// ends) and returns how many were written in full. On an error the
	// records after those are not in any file (or the error says the
	// file needs the repair that opening it again does).
	write(buf []byte, ends []int) (int, error)
	// current is the open file holding the newest records, for fsync; nil
	// before anything was written.
	current() *os.File
	close() error
}

// numbered rotates like Python's logging.handlers.RotatingFileHandler:
// before a record is written, if the file is not empty and its size plus
// the record's would reach maxBytes (Python's test is >=), the file
// becomes path.1, path.1 becomes path.2, …, up to path.<backups>, which
// the rename replaces. maxBytes or backups 0 never rotates. Backups beyond
// backups left by an earlier, larger setting are not touched (nor are they
// by Python).
type numbered struct {
	path     string
	maxBytes int64
	backups  int
	sync     bool // fsync a file before rotating it away, and the directory after
	f        *os.File
	size     int64
	broken   error // the file holds a partial record: reopening repairs it
}

func openNumbered(path string, maxBytes int64, backups int, sync bool) (*numbered, error) {
	w := &numbered{path: path, maxBytes: maxBytes, backups: backups, sync: sync}
	return w, w.open()
}

func (w *numbered) open() error {
	created := false
	if _, err := os.Lstat(w.path); errors.Is(err, fs.ErrNotExist) {
		created = true
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	w.f, w.size = f, st.Size()
	if created && w.sync {
		return syncDir(w.path)
	}
	return nil
}

// shouldRollover is Python's test for a file of size bytes and a record
// of n bytes.
func (w *numbered) shouldRollover(size, n int64) bool {
	return w.maxBytes > 0 && w.backups > 0 && size > 0 && size+n >= w.maxBytes
}

func (w *numbered) write(buf []byte, ends []int) (int, error) {
	if w.broken != nil {
		return 0, w.broken
	}
	if w.f == nil { // a failed rollover closed it
		if err := w.open(); err != nil {
			return 0, err
		}
	}
	done := 0    // records written
	segment := 0 // where the records not yet written start in buf
	start := 0
	for i, end := range ends {
		size := w.size + int64(start-segment) // once the pending records are written
		if w.shouldRollover(size, int64(end-start)) {
			if start > segment {
				if err := w.append(buf[segment:start]); err != nil {
					return done, err
				}
				done, segment = i, start
			}
			if err := w.rollover(); err != nil {
				return done, err
			}
		}
		start = end
	}
	if segment < len(buf) {
		if err := w.append(buf[segment:]); err != nil {
			return done, err
		}
	}
	return len(ends), nil
}

// append writes whole records, in one call; on failure it cuts the file
// back so that no part of them remains.
func (w *numbered) append(p []byte) error {
	n, err := w.f.Write(p)
	if err == nil {
		w.size += int64(n)
		return nil
	}
	if n > 0 {
		if terr := w.f.Truncate(w.size); terr != nil {
			w.broken = fmt.Errorf("%w (and removing the partial write failed: %v; writes stop until the sink restarts, which repairs the file)", err, terr)
			return w.broken
		}
	}
	return err
}

func (w *numbered) rollover() error {
	if w.sync {
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("rotate: %w", err)
		}
	}
	if err := w.f.Close(); err != nil {
		w.f = nil
		return fmt.Errorf("rotate: %w", err)
	}
	w.f = nil
	for i := w.backups - 1; i >= 1; i-- {
		src := fmt.Sprintf("%s.%d", w.path, i)
		if _, err := os.Lstat(src); err != nil {
			continue
		}
		if err := os.Rename(src, fmt.Sprintf("%s.%d", w.path, i+1)); err != nil {
			return fmt.Errorf("rotate: %w", err)
		}
	}
	if err := os.Rename(w.path, w.path+".1"); err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	if err := w.open(); err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	return nil
}

func (w *numbered) current() *os.File { return w.f }

func (w *numbered) close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// syncDir makes a file's creation or renaming in its directory durable.
func syncDir(path string) error {
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", filepath.Dir(path), err)
	}
	return nil
}
