package jsonl

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/argusmcp/argus/shared/auditlog"
)

// checkpointEvery is how often, at most, the sink logs its chain head at
// info level: a second copy of the head, outside the audit directory, so
// that rewriting the head file alone does not hide a truncation.
const checkpointEvery = time.Minute

// checkHead compares the newest record of the trail (nil when there is
// none) with the head file the sink persisted at its last sync, and
// returns the gap to record when the trail no longer reaches it. For a
// trail cut short it moves the chain's seq to the head's, so the next
// record's seq says how many records are missing while its prev_hash
// still links to the record found.
func (s *sink) checkHead(tail *auditlog.Record) *auditlog.Gap {
	path := s.cfg.HeadFile
	head, err := auditlog.ReadHead(path, s.cfg.Key)
	if errors.Is(err, fs.ErrNotExist) {
		if tail != nil {
			s.log.Warn("the audit trail has no head file yet; it is written from now on", "head_file", path)
		}
		return nil
	}
	if err != nil {
		return &auditlog.Gap{Reason: "head unreadable", Detail: err.Error()}
	}
	gap := &auditlog.Gap{HeadChain: head.Chain, HeadSeq: head.Seq, HeadHash: head.Hash, HeadTime: head.Time.UTC().Format(time.RFC3339Nano)}
	if tail == nil {
		gap.Reason, gap.FirstMissing, gap.LastMissing = "trail missing", 1, head.Seq
		gap.Detail = fmt.Sprintf("no records found, but the head file says the chain reached seq %d", head.Seq)
		return gap
	}
	in := tail.Integrity
	gap.FoundSeq, gap.FoundHash = in.Seq, in.Hash
	switch {
	case tail.Delivery.Chain != head.Chain:
		gap.Reason = "other chain"
		gap.Detail = fmt.Sprintf("the newest record belongs to chain %q, the head file to chain %q", tail.Delivery.Chain, head.Chain)
	case head.Seq > in.Seq:
		gap.Reason, gap.FirstMissing, gap.LastMissing = "truncated", in.Seq+1, head.Seq
		gap.Detail = fmt.Sprintf("the trail ends at seq %d, the head file says seq %d was written", in.Seq, head.Seq)
		_ = s.chain.SetHead(head.Seq, in.Hash)
	case head.Seq == in.Seq && head.Hash != in.Hash:
		gap.Reason = "replaced"
		gap.Detail = fmt.Sprintf("the record at seq %d is not the one the head file names", in.Seq)
	default: // the head is the tail, or lags behind it (a crash before the head was rewritten)
		return nil
	}
	return gap
}

// recordGap writes an audit_gap record into the chain and makes it
// durable. The record does not come from the host's delivery stream, so
// it leaves the deduplication state alone.
func (s *sink) recordGap(g auditlog.Gap) error {
	s.log.Error("the audit trail does not reach the head the sink persisted; recording an audit_gap event",
		"file", s.cfg.File, "head_file", s.cfg.HeadFile, "reason", g.Reason, "missing", g.Missing(), "detail", g.Detail)
	line, err := s.chain.Seal(auditlog.GapEvent(g, time.Now()), "", 0)
	if err != nil {
		return err
	}
	if _, err := s.file.write(line, []int{len(line)}); err != nil {
		return fmt.Errorf("record the audit gap: %w", err)
	}
	if f := s.file.current(); f != nil && s.cfg.Fsync != fsyncNever {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", s.cfg.File, err)
		}
	}
	return nil
}

// writeHead persists the chain head (seq, hash) once the records up to it
// are durable; it never moves the head file back.
func (s *sink) writeHead(seq uint64, hash string) error {
	s.headMu.Lock()
	defer s.headMu.Unlock()
	if seq == 0 || seq <= s.headSeq {
		return nil
	}
	h := auditlog.Head{Chain: s.chain.ID(), Seq: seq, Hash: hash, Time: time.Now(), File: filepath.Base(s.cfg.File)}
	if err := auditlog.WriteHead(s.cfg.HeadFile, h, s.cfg.Key, s.cfg.Fsync != fsyncNever); err != nil {
		return err
	}
	s.headSeq = seq
	if time.Since(s.lastCheckpoint) >= checkpointEvery {
		s.lastCheckpoint = time.Now()
		s.log.Info("audit chain checkpoint", "file", s.cfg.File, "chain", h.Chain, "seq", seq, "hash", hash)
	}
	return nil
}
