package search

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"time"
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
	files, err := openTrail(s.base, s.rep)
	if err != nil {
		return // try again at the next poll
	}
	n := len(files)
	if n == 0 || files[n-1].path != s.base || files[n-1].err != nil {
		closeTrail(files) // rotated again and not created yet: wait
		return
	}
	active := files[n-1]
	closeTrail(s.backups) // none left unread: next read them before the active file's end
	s.backups = nil
	if old := s.active; old != nil {
		s.backups = s.rotatedAfter(files[:n-1])
		old.final() // next reads it to its end, then closes it
		s.cur = old
	} else {
		closeTrail(files[:n-1])
	}
	s.active, s.activeStat = newLines(s.base, active.f, active.f), active.st
}

// rotatedAfter returns the backups among files (the trail without its
// new active file) rotated after the active file, which must be read
// between it and the new active file (several rotations may happen
// between two polls), and closes the others.
func (s *stream) rotatedAfter(files []trailFile) []trailFile {
	i := s.rotatedTo(files)
	if i < 0 {
		closeTrail(files)
		return nil
	}
	closeTrail(files[:i+1])
	return files[i+1:]
}

// rotatedTo returns the index among files of the backup the active file
// became: the same file, or (once gzipped) the one that starts with the
// same line; -1 when there is none.
func (s *stream) rotatedTo(files []trailFile) int {
	for i := len(files) - 1; i >= 0; i-- {
		if files[i].st != nil && os.SameFile(files[i].st, s.activeStat) {
			return i
		}
	}
	if s.active.first == nil {
		return -1
	}
	for i := len(files) - 1; i >= 0; i-- {
		if strings.HasSuffix(files[i].path, ".gz") && bytes.Equal(files[i].firstLine(), s.active.first) {
			return i
		}
	}
	return -1
}
