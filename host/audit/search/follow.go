package search

import (
	"context"
	"os"
	"slices"
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
		// Backups rotated after the old file (when several rotations
		// happened between two polls) come before the new file.
		files, _ := auditlog.Files(s.base)
		for i, p := range files {
			if st, err := os.Stat(p); err == nil && os.SameFile(st, s.activeStat) {
				for _, q := range files[i+1:] {
					if q != s.base {
						s.backups = append(s.backups, q)
					}
				}
				break
			}
		}
		old.final() // next reads it to its end, then closes it
		s.cur = old
	}
	s.active, s.activeStat = newLines(s.base, f, f), newStat
}
