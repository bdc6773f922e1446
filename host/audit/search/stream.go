package search

import (
	"bufio"
	"container/heap"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/argusmcp/argus/shared/auditlog"
	"github.com/argusmcp/argus/shared/auditlog/query"
)

// event is one audit event read from a file.
type event struct {
	line   []byte // the line as written, without its newline
	fields query.Fields
}

// stream is the trail of one audit file (one sink of one replica): its
// backups, oldest first, then the active file, which follow keeps
// reading.
type stream struct {
	base    string
	backups []trailFile // not yet read, opened when listed
	cur     *lines      // the file being read
	active  *lines      // the active file, listed with the backups; nil if it did not exist
	// activeStat identifies the active file, to tell a rotation.
	activeStat os.FileInfo
	rep        *reporter
}

// openStreams expands paths into streams: a file is a stream, a
// directory one stream per audit file in it. A path that does not exist
// (nor any backup of it) is an error; so is a file or directory that
// cannot be listed. Head and lock files named (as a shell glob such as
// logs/audit.jsonl* names them) are left out, and so is a file that is a
// backup of another named: it is read as part of that file's stream.
func openStreams(paths []string, follow bool, rep *reporter) ([]*stream, error) {
	var bases []string
	seen := map[string]bool{}
	for _, p := range paths {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			// rotated away and not created again yet: its backups do
			if _, err := auditlog.Files(p); err != nil {
				return nil, err
			}
		} else if err != nil {
			return nil, err
		}
		found := []string{p}
		switch {
		case st != nil && !st.IsDir() && !st.Mode().IsRegular():
			// a FIFO blocks in open, a device (/dev/zero) never ends
			return nil, fmt.Errorf("%s: not a regular file or directory (%s)", p, st.Mode().Type())
		case st != nil && st.IsDir():
			if found, err = basesIn(p); err != nil {
				return nil, err
			}
		case skipped(filepath.Base(p)):
			continue
		}
		for _, b := range found {
			if a := abs(b); !seen[a] {
				seen[a] = true
				bases = append(bases, b)
			}
		}
	}
	var all []*stream
	inStream := map[string]bool{} // backups
	for _, b := range bases {
		s, err := openStream(b, follow, rep)
		if err != nil {
			for _, s := range all {
				s.close()
			}
			return nil, err
		}
		all = append(all, s)
		for _, f := range s.backups {
			if f.path != b {
				inStream[abs(f.path)] = true
			}
		}
	}
	var out []*stream
	for _, s := range all {
		if inStream[abs(s.base)] {
			s.close()
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

func abs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// skipped reports the files next to audit files that are not audit
// files: head and lock files.
func skipped(name string) bool {
	return auditlog.IsHeadFile(name) || strings.HasSuffix(name, ".lock")
}

// openStream opens the files of base's trail at once (openTrail), so
// that a rotation while they are read neither skips nor repeats one: the
// backups, and base itself as the active file when it exists.
func openStream(base string, follow bool, rep *reporter) (*stream, error) {
	s := &stream{base: base, rep: rep}
	if strings.HasSuffix(base, ".gz") {
		s.backups = []trailFile{openTrailFile(base)} // a backup named explicitly, never active
		return s, nil
	}
	files, err := openTrail(base, rep)
	if err != nil {
		return nil, err
	}
	if n := len(files); n > 0 && files[n-1].path == base {
		a := files[n-1]
		files = files[:n-1]
		if a.err != nil {
			closeTrail(files)
			var pe *fs.PathError
			if errors.As(a.err, &pe) {
				return nil, a.err
			}
			return nil, fmt.Errorf("%s: %w", base, a.err)
		}
		var f *os.File
		if follow {
			f = a.f
		}
		s.active, s.activeStat = newLines(base, a.f, f), a.st
	}
	s.backups = files
	return s, nil
}

// basesIn lists the audit files of a directory: every regular file that
// is not a head or lock file, with backups standing for the file they
// were rotated from.
func basesIn(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || skipped(name) {
			continue
		}
		b := baseName(name)
		if !seen[b] {
			seen[b] = true
			out = append(out, filepath.Join(dir, b))
		}
	}
	slices.Sort(out)
	return out, nil
}

// baseName is the name of the audit file a backup was rotated from
// (audit.jsonl for audit.jsonl.3 and audit-2026-11-30T10-00-00.000.jsonl.gz),
// or name itself.
func baseName(name string) string {
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		if n := name[i+1:]; n != "" && n[0] >= '1' && n[0] <= '9' && strings.Trim(n, "0123456789") == "" {
			return name[:i]
		}
	}
	stem := strings.TrimSuffix(name, ".gz")
	ext := filepath.Ext(stem)
	rest := strings.TrimSuffix(stem, ext)
	n := len(auditlog.TimestampLayout)
	if len(rest) > n+1 && rest[len(rest)-n-1] == '-' {
		if _, err := time.Parse(auditlog.TimestampLayout, rest[len(rest)-n:]); err == nil {
			return rest[:len(rest)-n-1] + ext
		}
	}
	return name
}

// next returns the stream's next event in file order, reporting and
// skipping what cannot be read; false when every file has been read to
// its end (the active file's end for now, when following).
func (s *stream) next() (event, bool) {
	for {
		if s.cur == nil && !s.open() {
			return event{}, false
		}
		line, err := s.cur.next()
		if err == errLineTooLong {
			s.rep.line(s.cur.path, s.cur.n, err)
			continue
		}
		if err == io.EOF {
			if s.cur == s.active {
				return event{}, false // follow may read more later
			}
			s.cur.close()
			s.cur = nil
			continue
		}
		if err != nil {
			s.rep.file(s.cur.path, fmt.Sprintf("line %d: %v; rest of the file skipped", s.cur.n+1, err))
			if s.cur == s.active {
				return event{}, false
			}
			s.cur.close()
			s.cur = nil
			continue
		}
		if ev, ok := s.decode(s.cur, line); ok {
			return ev, true
		}
	}
}

// open moves on to the next backup, or to the active file after the
// last; false when there is none left.
func (s *stream) open() bool {
	for len(s.backups) > 0 {
		t := s.backups[0]
		s.backups = s.backups[1:]
		rc, err := t.reader()
		if err != nil {
			s.rep.file(t.path, fmt.Sprintf("%v; file skipped", unwrapPath(err)))
			continue
		}
		s.cur = newLines(t.path, rc, nil)
		return true
	}
	if s.active == nil {
		return false
	}
	s.cur = s.active
	return true
}

// decode reads an event's fields, reporting a line that is not one.
func (s *stream) decode(l *lines, line []byte) (event, bool) {
	f, err := query.Decode(line)
	if err != nil {
		s.rep.line(l.path, l.n, err)
		return event{}, false
	}
	return event{line: line, fields: f}, true
}

func (s *stream) close() {
	closeTrail(s.backups)
	s.backups = nil
	if s.cur != nil && s.cur != s.active {
		s.cur.close()
	}
	if s.active != nil {
		s.active.close()
	}
}

// unwrapPath drops the path of a *fs.PathError, which the report names
// already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

// lines reads the lines of one file. A last line without a newline is
// returned at the end of a backup; in the active file it is kept until
// its newline arrives (it may be a write in progress), and returned
// only once the file has been rotated (final).
type lines struct {
	path     string
	r        *bufio.Reader
	c        io.Closer
	f        *os.File // the active file, for following; nil for a backup
	partial  []byte
	skipping bool   // inside a line longer than MaxLine, dropping its bytes
	first    []byte // the first line, to find the file again once rotated and gzipped
	n        int    // lines returned
	pos      int64  // bytes read from f
}

func newLines(path string, r io.ReadCloser, f *os.File) *lines {
	l := &lines{path: path, c: r, f: f}
	l.r = bufio.NewReaderSize(readCounter{r, &l.pos}, 64<<10)
	return l
}

type readCounter struct {
	r io.Reader
	n *int64
}

func (c readCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	return n, err
}

// MaxLine is the longest line read as an audit event: far above any
// event a sink writes (about 1 KiB), low enough that a hostile or damaged
// file cannot make a query hold gigabytes for one line. A longer line is
// skipped and reported; the lines after it are read as usual.
const MaxLine = 4 << 20

// errLineTooLong reports a line longer than MaxLine; it was skipped.
var errLineTooLong = fmt.Errorf("longer than %d bytes, not an audit event", MaxLine)

// next returns the next complete line (a fresh slice, without its
// newline), io.EOF at the end of what has been written so far,
// errLineTooLong for a skipped over-long line, or a read error (a damaged
// gzip file).
func (l *lines) next() ([]byte, error) {
	b, err := l.readLine()
	if l.skipping && (err == nil || err == io.EOF && l.f == nil) {
		// the end of an over-long line (or of a backup ending in one):
		// skip it, count it
		l.skipping = false
		l.n++
		return nil, errLineTooLong
	}
	switch {
	case err == io.EOF && l.f == nil && len(l.partial)+len(b) > 0:
		// a backup's last line without its newline
	case err == io.EOF:
		l.partial = append(l.partial, b...)
		return nil, io.EOF
	case err != nil:
		return nil, err
	default:
		b = b[:len(b)-1]
	}
	if len(l.partial) > 0 {
		b = append(l.partial, b...)
		l.partial = nil
	}
	l.n++
	if l.n == 1 {
		l.first = b
	}
	return b, nil
}

// readLine is bufio.Reader.ReadBytes('\n') that holds at most MaxLine
// bytes of a line (with what is kept in partial): past that it drops the
// line's bytes up to its newline and sets skipping.
func (l *lines) readLine() ([]byte, error) {
	var b []byte
	for {
		chunk, err := l.r.ReadSlice('\n')
		if !l.skipping {
			b = append(b, chunk...)
			if len(l.partial)+len(b) > MaxLine {
				l.skipping, l.partial, b = true, nil, nil
			}
		}
		if err != bufio.ErrBufferFull {
			return b, err
		}
	}
}

// final marks the active file as rotated away: its last line without a
// newline, if any, is returned by next as a complete one.
func (l *lines) final() { l.f = nil }

// rewind reads a truncated file from its start again.
func (l *lines) rewind() error {
	if _, err := l.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	l.pos, l.n, l.partial, l.first, l.skipping = 0, 0, nil, nil, false
	l.r.Reset(readCounter{l.f, &l.pos})
	return nil
}

func (l *lines) close() { l.c.Close() }

// merge yields the events of several streams in timestamp order (each
// stream's own order kept; ties go to the stream named first).
type merge struct {
	h mergeHeap
}

type head struct {
	ev event
	s  *stream
	i  int
}

type mergeHeap []head

func (h mergeHeap) Len() int { return len(h) }
func (h mergeHeap) Less(a, b int) bool {
	if c := h[a].ev.fields.Time.Compare(h[b].ev.fields.Time); c != 0 {
		return c < 0
	}
	return h[a].i < h[b].i
}
func (h mergeHeap) Swap(a, b int) { h[a], h[b] = h[b], h[a] }
func (h *mergeHeap) Push(x any)   { *h = append(*h, x.(head)) }
func (h *mergeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func newMerge(streams []*stream) *merge {
	m := &merge{}
	for i, s := range streams {
		if ev, ok := s.next(); ok {
			m.h = append(m.h, head{ev, s, i})
		}
	}
	heap.Init(&m.h)
	return m
}

// next returns the earliest event of all streams' next ones.
func (m *merge) next() (event, bool) {
	if len(m.h) == 0 {
		return event{}, false
	}
	top := m.h[0]
	if ev, ok := top.s.next(); ok {
		m.h[0].ev = ev
		heap.Fix(&m.h, 0)
	} else {
		heap.Pop(&m.h)
	}
	return top.ev, true
}

// ring keeps the last n events added (n ≥ 1).
type ring struct {
	buf  []event
	next int
	full bool
	n    int
}

func newRing(n int) *ring { return &ring{n: n} }

func (r *ring) add(ev event) {
	if len(r.buf) < r.n {
		r.buf = append(r.buf, ev)
		return
	}
	r.buf[r.next] = ev
	r.next = (r.next + 1) % r.n
	r.full = true
}

// events returns the kept events, oldest first.
func (r *ring) events() []event {
	if !r.full {
		return r.buf
	}
	return append(slices.Clone(r.buf[r.next:]), r.buf[:r.next]...)
}
