package auditlog

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
)

// ProblemKind classifies the problem Verify reports.
type ProblemKind string

// The problems Verify tells apart.
const (
	// Altered: the line is not a record, or its hash does not match its
	// content (also what a wrong or missing key looks like).
	Altered ProblemKind = "altered"
	// Missing: records are absent from the sequence.
	Missing ProblemKind = "missing"
	// Reordered: a record stands before one that precedes it, or its
	// sequence number is lower than expected.
	Reordered ProblemKind = "reordered"
	// Duplicated: the same record (sequence number and hash) again.
	Duplicated ProblemKind = "duplicated"
	// BrokenLink: the record's prev_hash is not the previous record's hash.
	BrokenLink ProblemKind = "broken link"
)

// Position is a line of a file. Lines start at 1.
type Position struct {
	File string
	Line int
}

func (p Position) String() string { return fmt.Sprintf("%s line %d", p.File, p.Line) }

// Problem is the first thing wrong with a chain.
type Problem struct {
	Kind ProblemKind
	Position
	// Seq is the integrity seq of the record at Position, 0 when the line
	// is not a record.
	Seq uint64
	// Message describes it, for example "record altered (hash mismatch
	// at seq 1234)".
	Message string
}

func (p *Problem) Error() string { return p.Position.String() + ": " + p.Message }

// Report is the result of Verify.
type Report struct {
	// Files is the number of files read, empty ones included.
	Files int
	// Records is the number of records verified (before Problem, if any).
	Records int
	// FirstSeq and LastSeq are the integrity seqs of the first and last
	// record verified.
	FirstSeq, LastSeq uint64
	// Start is where the first record verified stands.
	Start Position
	// Genesis reports that the verified chain starts with the genesis
	// record (seq 1): nothing older was rotated away or left out.
	Genesis bool
	// Problem is the first problem found; nil when the chain is intact.
	Problem *Problem
}

// OK reports that no problem was found.
func (r Report) OK() bool { return r.Problem == nil }

// String is the one-line verdict: "OK: 20000 records, seq 1-20000, 6
// files" or "FAIL: audit.jsonl.2 line 57: record altered (hash mismatch at
// seq 1234)".
func (r Report) String() string {
	if r.Problem != nil {
		return "FAIL: " + r.Problem.Error()
	}
	s := "OK: " + plural(r.Records, "record")
	if r.Records > 0 {
		s += fmt.Sprintf(", seq %d-%d", r.FirstSeq, r.LastSeq)
	}
	return s + ", " + plural(r.Files, "file")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// Verify checks the hash chain across files, read in the order given
// (oldest first, see Files), with key (empty: plain SHA-256). It reports
// the first problem in Report.Problem; the error is for files that cannot
// be read. Verify reads each file once when the chain is intact, and
// again to classify a problem.
func Verify(files []string, key []byte) (Report, error) {
	v := &verifier{files: files, h: newHasher(key)}
	rep := Report{Files: len(files)}
	var prev struct {
		seq  uint64
		hash string
		pos  Position
	}
	err := v.each(func(at place, line []byte, complete bool) (bool, error) {
		fail := func(kind ProblemKind, seq uint64, format string, args ...any) (bool, error) {
			rep.Problem = &Problem{Kind: kind, Position: at.Position, Seq: seq, Message: fmt.Sprintf(format, args...)}
			return false, nil
		}
		if !complete {
			return fail(Altered, 0, "record altered (incomplete last line without a newline: a crash, or a write in progress)")
		}
		rec, canon, err := parse(line)
		if err != nil {
			return fail(Altered, 0, "record altered (not an audit record: %v)", err)
		}
		in := rec.Integrity
		if v.h.sum(in.PrevHash, canon) != in.Hash {
			return fail(Altered, in.Seq, "record altered (hash mismatch at seq %d)", in.Seq)
		}
		if rep.Records == 0 {
			switch {
			case in.Seq == 1 && in.PrevHash != GenesisHash:
				return fail(BrokenLink, in.Seq, "chain broken (seq 1 does not start from the genesis hash)")
			case in.Seq != 1 && in.PrevHash == GenesisHash:
				return fail(BrokenLink, in.Seq, "chain broken (the genesis hash is the prev_hash of seq %d, not of seq 1)", in.Seq)
			}
			rep.Start, rep.FirstSeq, rep.Genesis = at.Position, in.Seq, in.Seq == 1
		} else {
			want := prev.seq + 1
			switch {
			case in.Seq > want:
				found, _, err := v.find(want, at, true)
				switch {
				case err != nil:
					return false, err
				case found != nil:
					return fail(Reordered, in.Seq, "record out of order (seq %d where seq %d was expected; seq %d is at %s)", in.Seq, want, want, found)
				case in.Seq == want+1:
					return fail(Missing, in.Seq, "record missing (seq %d, before seq %d)", want, in.Seq)
				default:
					return fail(Missing, in.Seq, "records missing (seq %d-%d, before seq %d)", want, in.Seq-1, in.Seq)
				}
			case in.Seq < want:
				found, hash, err := v.find(in.Seq, at, false)
				switch {
				case err != nil:
					return false, err
				case found != nil && hash == in.Hash:
					return fail(Duplicated, in.Seq, "record duplicated (seq %d, first at %s)", in.Seq, found)
				default:
					return fail(Reordered, in.Seq, "record out of order (seq %d after seq %d)", in.Seq, prev.seq)
				}
			case in.PrevHash != prev.hash:
				return fail(BrokenLink, in.Seq, "chain broken (prev_hash of seq %d is not the hash of seq %d at %s)", in.Seq, prev.seq, prev.pos)
			}
		}
		rep.Records++
		rep.LastSeq = in.Seq
		prev.seq, prev.hash, prev.pos = in.Seq, in.Hash, at.Position
		return true, nil
	})
	return rep, err
}

type verifier struct {
	files []string
	h     *hasher
}

// place is a Position and the index of its file in the list (a file may be
// listed twice).
type place struct {
	Position
	file int
}

func (p place) before(q place) bool {
	return p.file < q.file || p.file == q.file && p.Line < q.Line
}

// each calls fn for every line of the files in order until fn returns
// false or an error.
func (v *verifier) each(fn func(at place, line []byte, complete bool) (bool, error)) error {
	for i, path := range v.files {
		more, err := v.eachIn(i, path, fn)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func (v *verifier) eachIn(i int, path string, fn func(place, []byte, bool) (bool, error)) (bool, error) {
	rc, err := Open(path)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	ls := newLines(rc)
	for {
		line, complete, err := ls.next()
		if err == io.EOF {
			return true, nil
		}
		if err != nil {
			return false, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if more, err := fn(place{Position{path, ls.line}, i}, line, complete); err != nil || !more {
			return false, err
		}
	}
}

// find looks for the first record with integrity seq seq after at (or
// before it) and returns its position and hash.
func (v *verifier) find(seq uint64, at place, after bool) (*Position, string, error) {
	var found *Position
	var hash string
	err := v.each(func(p place, line []byte, _ bool) (bool, error) {
		if !after && !p.before(at) {
			return false, nil
		}
		if after && !at.before(p) {
			return true, nil
		}
		var rec struct{ Integrity Integrity }
		if json.Unmarshal(line, &rec) == nil && rec.Integrity.Seq == seq {
			found, hash = &p.Position, rec.Integrity.Hash
			return false, nil
		}
		return true, nil
	})
	return found, hash, err
}
