package search

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/argusmcp/argus/shared/auditlog"
)

// trailFile is one file of an audit trail, opened when the trail was
// listed: the numbered rotation renames every backup at each rotation
// (base.1 becomes base.2), so a path listed is not the same file a moment
// later. Holding the file from the listing on, a trail read while it is
// being rotated has each file read once, none skipped.
type trailFile struct {
	path string
	st   os.FileInfo // as listed; nil when it could not be stat'ed
	f    *os.File    // nil when it could not be opened: err says why
	err  error
}

// errMoved reports a file renamed or replaced between its stat and its
// open: the listing is taken again.
var errMoved = errors.New("moved while being opened")

// trailTries bounds how many times a listing is taken again while the
// trail keeps rotating under it.
const trailTries = 20

// openTrail opens the files of base's trail (auditlog.Files: oldest
// first, base last when it exists) as one consistent snapshot: the
// listing is taken again until the one before the opens and the one
// after them name the same files. A trail that rotates faster than it
// can be listed is read as last listed, and reported. An error is
// auditlog.Files' (the trail does not exist, or its directory cannot be
// read); a file that cannot be opened is returned with its error, to be
// reported when it is read.
func openTrail(base string, rep *reporter) ([]trailFile, error) {
	for try := 1; ; try++ {
		paths, err := auditlog.Files(base)
		if err != nil {
			return nil, err
		}
		files := make([]trailFile, len(paths))
		for i, p := range paths {
			files[i] = openTrailFile(p)
		}
		if unchanged(base, files) {
			return files, nil
		}
		if try == trailTries {
			rep.note(base, "kept rotating while its files were listed; events may be missing or repeated")
			return files, nil
		}
		closeTrail(files)
	}
}

// openTrailFile opens one listed file, refusing what is not a regular
// file before opening it (a FIFO would block in open, a device never
// end).
func openTrailFile(p string) trailFile {
	t := trailFile{path: p}
	t.st, t.err = os.Stat(p)
	if t.err == nil && !t.st.Mode().IsRegular() {
		t.err = fmt.Errorf("not a regular file (%s)", t.st.Mode().Type())
	}
	if t.err != nil {
		return t
	}
	f, err := os.Open(p)
	if err != nil {
		t.err = err
		return t
	}
	if st, err := f.Stat(); err != nil || !os.SameFile(st, t.st) {
		f.Close()
		t.err = errMoved
		return t
	}
	t.f = f
	return t
}

// unchanged reports whether base's trail still lists files, the same
// paths naming the same files, and none of them went missing or moved
// while being opened.
func unchanged(base string, files []trailFile) bool {
	paths, err := auditlog.Files(base)
	if err != nil || len(paths) != len(files) {
		return false
	}
	for i, p := range paths {
		t := files[i]
		if p != t.path || errors.Is(t.err, errMoved) || errors.Is(t.err, fs.ErrNotExist) {
			return false
		}
		if t.st == nil {
			continue
		}
		if st, err := os.Stat(p); err != nil || !os.SameFile(st, t.st) {
			return false
		}
	}
	return true
}

func closeTrail(files []trailFile) {
	for _, t := range files {
		if t.f != nil {
			t.f.Close()
		}
	}
}

// reader reads the file, decompressing it when its name ends in .gz.
// Closing the result closes the file.
func (t trailFile) reader() (io.ReadCloser, error) {
	if t.err != nil {
		return nil, t.err
	}
	return auditlog.OpenFile(t.f)
}

// firstLine is the first line of a gzipped backup, nil when it has none
// or cannot be read. It opens the file again by its name (a gzipped
// backup keeps it), leaving t.f where it is for reader.
func (t trailFile) firstLine() []byte {
	rc, err := auditlog.Open(t.path)
	if err != nil {
		return nil
	}
	defer rc.Close()
	line, _, err := auditlog.NewLines(rc).Next()
	if err != nil {
		return nil
	}
	return line
}
