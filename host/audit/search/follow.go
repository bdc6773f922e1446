package search

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/argusmcp/argus/shared/auditlog"
)

// follow prints the matching events appended to the streams' active
// files, polling every opts.Poll until ctx ends. A rotation (the active
// file renamed and a new one created, as lumberjack and the numbered
// rotation do) is followed: the old file is read to its end, then any
// backup rotated after it, then the new file from its start. A file
// truncated in place is read again from its start.
func follow(ctx context.Context, streams []*stream, opts Options, rep *reporter, emit func([]event) error) error {
	t := time.NewTicker(opts.Poll)
	defer t.Stop()
	var batch []event
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		batch = batch[:0]
		for _, s := range streams {
			s.followRotation()
			for {
				ev, ok := s.next()
				if !ok {
					break
				}
				if opts.Filter.Match(ev.fields) {
					batch = append(batch, ev)
				}
			}
		}
		if len(batch) == 0 {
			continue
		}
		slices.SortStableFunc(batch, func(a, b event) int { return a.fields.Time.Compare(b.fields.Time) })
		if err := emit(batch); err != nil {
			return err
		}
	}
}

// followRotation switches the stream to a new active file when the one
// it reads has been rotated away, and rewinds it when it was truncated.
func (s *stream) followRotation() {
	st, err := os.Stat(s.base)
	if err != nil {
		return // rotated and not created again yet, or removed: wait
	}
	if s.active != nil && os.SameFile(st, s.activeStat) {
		if st.Size() < s.active.pos && s.active.f != nil {
			s.rep.note(s.base, "truncated; reading it from its start")
			if err := s.active.rewind(); err != nil {
				s.rep.file(s.base, err.Error())
			}
		}
		return
	}
	f, err := os.Open(s.base)
	if err != nil {
		return // try again at the next poll
	}
	newStat, err := f.Stat()
	if err != nil {
		f.Close()
		return
	}
	old := s.active
	s.backups = nil
	if old != nil {
		files, _ := auditlog.Files(s.base)
		s.backups = s.rotatedSince(files, newStat)
		old.final() // next reads it to its end, then closes it
		s.cur = old
	}
	s.active, s.activeStat = newLines(s.base, f, f), newStat
}

// rotatedSince returns the backups among files (a listing of the
// stream's trail) rotated after the active file, which must come between
// it and the new active file (when several rotations happened between
// two polls); not the new active file itself, which may have been rotated
// since it was opened too, and is read once, as the active file.
func (s *stream) rotatedSince(files []string, newStat os.FileInfo) []string {
	i := s.rotatedTo(files)
	if i < 0 {
		return nil
	}
	var out []string
	for _, q := range files[i+1:] {
		if st, err := os.Stat(q); q != s.base && (err != nil || !os.SameFile(st, newStat)) {
			out = append(out, q)
		}
	}
	return out
}

// rotatedTo returns the index among files of the backup the active file
// became: the same file, or (once gzipped) the one that starts with the
// same line; -1 when there is none.
func (s *stream) rotatedTo(files []string) int {
	for i := len(files) - 1; i >= 0; i-- {
		if st, err := os.Stat(files[i]); err == nil && os.SameFile(st, s.activeStat) {
			return i
		}
	}
	if s.active.first == nil {
		return -1
	}
	for i := len(files) - 1; i >= 0; i-- {
		if files[i] != s.base && strings.HasSuffix(files[i], ".gz") && bytes.Equal(firstLine(files[i]), s.active.first) {
			return i
		}
	}
	return -1
}

// firstLine is the first line of an audit file, nil when it has none or
// cannot be read.
func firstLine(path string) []byte {
	rc, err := auditlog.Open(path)
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
