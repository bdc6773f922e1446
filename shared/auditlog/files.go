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
	"runtime"
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
// ends in .gz. Closing the result closes the file.
func Open(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(path, ".gz") {
		return f, nil
	}
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		f.Close()
		return nil, &fs.PathError{Op: "gunzip", Path: path, Err: err}
	}
	return gzipFile{zr, f}, nil
}

type gzipFile struct {
	*gzip.Reader
	f *os.File
}

func (g gzipFile) Close() error {
	g.Reader.Close()
	return g.f.Close()
}

// lines reads lines of any length. Line numbers start at 1.
type lines struct {
	r    *bufio.Reader
	buf  []byte
	line int
}

func newLines(r io.Reader) *lines { return &lines{r: bufio.NewReaderSize(r, 64<<10)} }

// next returns the next line without its newline, whether it had one, and
// io.EOF after the last. The slice is valid until the next call.
func (l *lines) next() ([]byte, bool, error) {
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
		ls := newLines(rc)
		for {
			line, complete, err := ls.next()
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

// Inputs are the files a verification reads, as Collect found them.
type Inputs struct {
	// Files are the trail's files, in no particular order.
	Files []string
	// Heads are head files named explicitly (or by a pattern).
	Heads []string
	// fromDir marks files found by listing a directory: one that is not
	// an audit file is skipped rather than reported.
	fromDir map[string]bool
}

// Collect expands the arguments of `argus audit verify`: files, quoted
// glob patterns (filepath.Match syntax) and directories (their files, not
// recursively). Head files (*.head) become Heads; lock files (*.lock) and
// head files being written (*.head.tmp) are left out. A single file
// argument brings its rotated backups along (see Files). Order does not
// matter: Verify orders by content.
func Collect(args []string) (Inputs, error) {
	in := Inputs{fromDir: map[string]bool{}}
	add := func(path string, dir bool) {
		name := filepath.Base(path)
		switch {
		case strings.HasSuffix(name, ".lock") || strings.HasSuffix(name, HeadSuffix+".tmp"):
		case strings.HasSuffix(name, HeadSuffix):
			if !dir {
				in.Heads = append(in.Heads, path)
			}
		default:
			in.Files = append(in.Files, path)
			if dir {
				in.fromDir[path] = true
			}
		}
	}
	for _, arg := range args {
		st, err := os.Stat(arg)
		if err != nil && strings.ContainsAny(arg, `*?[`) {
			matches, gerr := filepath.Glob(arg)
			if gerr != nil {
				return in, fmt.Errorf("pattern %q: %w", arg, gerr)
			}
			if len(matches) == 0 {
				return in, &fs.PathError{Op: "match", Path: arg, Err: fs.ErrNotExist}
			}
			for _, m := range matches {
				if st, err := os.Stat(m); err == nil && st.Mode().IsRegular() {
					add(m, false)
				}
			}
			continue
		}
		switch {
		case err != nil:
			return in, err
		case st.IsDir():
			entries, err := os.ReadDir(arg)
			if err != nil {
				return in, err
			}
			for _, e := range entries {
				if e.Type().IsRegular() {
					add(filepath.Join(arg, e.Name()), true)
				}
			}
		case len(args) == 1 && !IsHeadFile(arg):
			files, err := Files(arg)
			if err != nil {
				return in, err
			}
			for _, f := range files {
				add(f, false)
			}
		default:
			add(arg, false)
		}
	}
	return in, nil
}

// VerifyInputs is Verify over what Collect found: the head files named
// are checked too, and files found in directories that are not audit
// files are skipped (Report.Skipped).
func VerifyInputs(in Inputs, opts Options) (Report, error) {
	opts.Heads = append(slices.Clone(opts.Heads), in.Heads...)
	v := &verifier{opts: opts, workers: max(1, runtime.GOMAXPROCS(0))}
	return v.run(in.Files, in.fromDir)
}
