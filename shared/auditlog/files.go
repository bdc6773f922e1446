package auditlog

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TimestampLayout is the time in the name of a timestamped backup
// (lumberjack's, in UTC): audit-2026-02-23T12-34-56.789.jsonl.
const TimestampLayout = "2006-01-02T15-04-05.000"

// Files expands the path of an audit file into the files of its chain,
// oldest first: numbered backups (base.N … base.2, base.1), then
// timestamped backups (<name>-<timestamp><ext>, optionally gzipped, by
// timestamp; when both a backup and its .gz exist the plain one is taken,
// the other being a compression in progress), then base itself when it
// exists. A directory holding both kinds (after switching rotation modes)
// is listed in that order, which is right only when numbered rotation came
// first; list the files explicitly otherwise. When none of these exist it
// returns os.Stat's error for base (wrapping fs.ErrNotExist).
func Files(base string) ([]string, error) {
	dir, name := filepath.Split(base)
	if name == "" {
		return nil, &fs.PathError{Op: "audit files", Path: base, Err: errors.New("not a file name")}
	}
	list := dir
	if list == "" {
		list = "."
	}
	entries, err := os.ReadDir(list)
	if err != nil {
		return nil, err
	}
	type numbered struct {
		n    int
		path string
	}
	type stamped struct {
		t    time.Time
		path string
	}
	var nums []numbered
	var stamps []stamped
	plain := map[string]bool{}
	ext := filepath.Ext(name)
	prefix := strings.TrimSuffix(name, ext) + "-"
	for _, e := range entries {
		fn := e.Name()
		if e.IsDir() {
			continue
		}
		if n, ok := backupNumber(name, fn); ok {
			nums = append(nums, numbered{n, dir + fn})
			continue
		}
		stem := strings.TrimSuffix(fn, ".gz")
		if !strings.HasPrefix(stem, prefix) || !strings.HasSuffix(stem, ext) {
			continue
		}
		t, err := time.Parse(TimestampLayout, stem[len(prefix):len(stem)-len(ext)])
		if err != nil {
			continue
		}
		if stem == fn {
			plain[stem] = true
		}
		stamps = append(stamps, stamped{t, dir + fn})
	}
	slices.SortFunc(nums, func(a, b numbered) int { return b.n - a.n })
	slices.SortStableFunc(stamps, func(a, b stamped) int { return a.t.Compare(b.t) })
	var out []string
	for _, f := range nums {
		out = append(out, f.path)
	}
	for _, f := range stamps {
		if gz := strings.TrimSuffix(filepath.Base(f.path), ".gz"); gz != filepath.Base(f.path) && plain[gz] {
			continue
		}
		out = append(out, f.path)
	}
	st, err := os.Stat(base)
	switch {
	case err == nil && st.IsDir():
		err = &fs.PathError{Op: "open", Path: base, Err: errors.New("is a directory")}
	case err == nil:
		out = append(out, base)
	}
	if len(out) == 0 {
		return nil, err
	}
	return out, nil
}

// backupNumber reports whether fn is name.N for N ≥ 1 (no sign, no
// leading zero), and N.
func backupNumber(name, fn string) (int, bool) {
	s, ok := strings.CutPrefix(fn, name+".")
	if !ok || s == "" || s[0] < '1' || s[0] > '9' {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// Open opens an audit file for reading, decompressing it when its name
// ends in .gz. Closing the result closes the file. Only regular files are
// opened: a FIFO would block in open and a device such as /dev/zero would
// never end, so anything else is refused (checked before opening, and
// again on what was opened, by OpenFile).
func Open(path string) (io.ReadCloser, error) {
	if st, err := os.Stat(path); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("not a regular file (%s)", st.Mode().Type())}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return OpenFile(f)
}

// OpenFile is Open for a file already open (f.Name() its path): f itself,
// or a gzip reader over it; on an error f is closed.
func OpenFile(f *os.File) (io.ReadCloser, error) {
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: f.Name(), Err: errors.New("not a regular file")}
	}
	if !strings.HasSuffix(f.Name(), ".gz") {
		return f, nil
	}
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		f.Close()
		return nil, &fs.PathError{Op: "gunzip", Path: f.Name(), Err: err}
	}
	// gzip.Reader's Close releases nothing; closing the file is all.
	return struct {
		io.Reader
		io.Closer
	}{zr, f}, nil
}

// Lines reads lines of any length. Line numbers start at 1.
type Lines struct {
	r    *bufio.Reader
	buf  []byte
	line int
}

// NewLines reads the lines of r through a 64 KiB buffer.
func NewLines(r io.Reader) *Lines { return &Lines{r: bufio.NewReaderSize(r, 64<<10)} }

// Line is the number of the line Next returned last (0 before the first).
func (l *Lines) Line() int { return l.line }

// Next returns the next line without its newline, whether it had one, and
// io.EOF after the last. The slice is valid until the next call.
func (l *Lines) Next() ([]byte, bool, error) {
	l.buf = l.buf[:0]
	for {
		chunk, err := l.r.ReadSlice('\n')
		l.buf = append(l.buf, chunk...)
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && len(l.buf) == 0:
			return nil, false, io.EOF
		case err != nil && err != io.EOF:
			return nil, false, err
		}
		l.line++
		if n := len(l.buf); n > 0 && l.buf[n-1] == '\n' {
			return l.buf[:n-1], true, nil
		}
		return l.buf, false, nil
	}
}

// LastRecord returns the last complete line (one ending in a newline) of
// an audit file, or nil when it has none. Plain files are read backwards
// from the end; gzipped ones are decompressed in full.
func LastRecord(path string) ([]byte, error) {
	if strings.HasSuffix(path, ".gz") {
		rc, err := Open(path)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		var last []byte
		ls := NewLines(rc)
		for {
			line, complete, err := ls.Next()
			if err == io.EOF {
				return last, nil
			}
			if err != nil {
				return nil, &fs.PathError{Op: "read", Path: path, Err: err}
			}
			if complete {
				last = append(last[:0], line...)
			}
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	line, _, err := LastLine(f, st.Size())
	return line, err
}

// LastLine returns the last complete line of the first size bytes of r
// (without its newline; nil when there is none) and the offset just after
// it, where an incomplete tail (a torn write), if any, begins.
func LastLine(r io.ReaderAt, size int64) ([]byte, int64, error) {
	const chunk = 64 << 10
	var tail []byte // the bytes from pos to size
	pos := size
	end := int64(-1) // offset of the newline ending the last complete line
	for pos > 0 {
		n := min(int64(chunk), pos)
		buf := make([]byte, n, n+int64(len(tail)))
		if _, err := r.ReadAt(buf, pos-n); err != nil {
			return nil, 0, err
		}
		pos -= n
		tail = append(buf, tail...)
		for i := int(n) - 1; i >= 0; i-- { // the bytes just read
			if tail[i] != '\n' {
				continue
			}
			if end < 0 {
				end = pos + int64(i)
				continue
			}
			return tail[i+1 : end-pos], end + 1, nil
		}
	}
	if end < 0 {
		return nil, 0, nil
	}
	return tail[:end], end + 1, nil
}
