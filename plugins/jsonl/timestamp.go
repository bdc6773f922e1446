package jsonl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"
)

// stamped hands the file to lumberjack (rotation = "timestamp"): backups
// named name-<UTC time>.ext, pruned by count and age, optionally gzipped.
//
// lumberjack never fsyncs and keeps its file to itself, so stamped holds a
// read-only descriptor of the current file: fsync through it reaches the
// same inode. A record that may make lumberjack rotate is written alone and
// followed by a stat of the path: a different file there means the old one
// is a backup now, and it is synced through the old descriptor before that
// is let go. Backups that lumberjack then gzips are written by its own
// goroutine, unsynced.
type stamped struct {
	path string
	lj   *lumberjack.Logger
	max  int64 // bytes
	sync bool
	fd   *os.File // the current file, read-only; nil until it exists
	size int64    // the current file's size as lumberjack counts it
	// rotated is when the last rotation happened: backup names have
	// millisecond resolution, and a second rotation within the same
	// millisecond would rename onto the first backup.
	rotated time.Time
	broken  error
}

func openStamped(path string, c config) (*stamped, error) {
	w := &stamped{
		path: path,
		lj: &lumberjack.Logger{
			Filename:   path,
			MaxSize:    c.MaxSizeMB,
			MaxBackups: c.BackupCount,
			MaxAge:     c.MaxAgeDays,
			Compress:   c.Compress,
		},
		max:  int64(c.MaxSizeMB) << 20,
		sync: c.Fsync != fsyncNever,
	}
	fd, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		st, err := fd.Stat()
		if err != nil {
			fd.Close()
			return nil, err
		}
		w.fd, w.size = fd, st.Size()
	}
	return w, nil
}

func (w *stamped) write(buf []byte, ends []int) (int, error) {
	if w.broken != nil {
		return 0, w.broken
	}
	done, segment, start := 0, 0, 0
	for i, end := range ends {
		pending := int64(start - segment)
		// lumberjack rotates when size+len > max (>= on its first write):
		// records that cannot trigger it go out together.
		if w.size+pending+int64(end-start) >= w.max {
			if pending > 0 {
				if err := w.put(buf[segment:start], false); err != nil {
					return done, err
				}
			}
			if err := w.put(buf[start:end], true); err != nil {
				return i, err // broken: the sink restarts before writing again
			}
			done, segment = i+1, end
		}
		start = end
	}
	if segment < len(buf) {
		if err := w.put(buf[segment:], false); err != nil {
			return done, err
		}
	}
	return len(ends), nil
}

// put writes whole records with one lumberjack Write.
func (w *stamped) put(p []byte, mayRotate bool) error {
	if mayRotate {
		next := w.rotated.Truncate(time.Millisecond).Add(time.Millisecond)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
	}
	n, err := w.lj.Write(p)
	if err != nil {
		// Where the bytes went is lumberjack's secret: stop here, and
		// let the restart that the host's retry brings repair the file.
		w.broken = fmt.Errorf("%w (writes stop until the sink restarts, which repairs the file)", err)
		return w.broken
	}
	if !mayRotate && w.fd != nil {
		w.size += int64(n)
		return nil
	}
	st, err := os.Stat(w.path)
	if err != nil {
		w.broken = fmt.Errorf("after a write: %w", err)
		return w.broken
	}
	if w.fd != nil {
		if old, err := w.fd.Stat(); err == nil && os.SameFile(old, st) {
			w.size += int64(n)
			return nil
		}
	}
	// lumberjack created the file, or rotated: the old one is a backup.
	w.rotated = time.Now()
	var syncErr error
	if w.fd != nil {
		if w.sync {
			syncErr = w.fd.Sync()
		}
		w.fd.Close()
	}
	if w.fd, err = os.Open(w.path); err != nil {
		w.broken = fmt.Errorf("after rotating: %w", err)
		return w.broken
	}
	w.size = st.Size()
	if w.sync && syncErr == nil {
		syncErr = syncDir(w.path)
	}
	if syncErr != nil {
		// The records are written; whether they are durable is unknown.
		w.broken = fmt.Errorf("rotate: fsync: %w", syncErr)
		return w.broken
	}
	return nil
}

func (w *stamped) current() *os.File { return w.fd }

// close closes the file. lumberjack's retention goroutine (one per
// Logger, idle) has no way to stop and outlives it; the plugin process
// exits right after.
func (w *stamped) close() error {
	err := w.lj.Close()
	if w.fd != nil {
		w.fd.Close()
		w.fd = nil
	}
	return err
}
