package verify

import (
	"cmp"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/argusmcp/argus/shared/auditlog"
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
	// BrokenLink: the record's prev_hash is not the previous record's
	// hash, or the record belongs to another chain.
	BrokenLink ProblemKind = "broken link"
	// GapRecorded: an audit_gap record, written by the sink when it found its
	// newest records gone on start.
	GapRecorded ProblemKind = "gap"
	// Truncated: the head file names a record newer than the newest one
	// found: the newest records were removed.
	Truncated ProblemKind = "truncated"
	// HeadMismatch: the head file does not match the trail (the record at
	// its seq is another one), or it is damaged or its mac does not
	// verify.
	HeadMismatch ProblemKind = "head mismatch"
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

// Options tune Verify. The zero value verifies an unkeyed trail without
// head files.
type Options struct {
	// Key is the sink's hmac_key; empty for plain SHA-256.
	Key []byte
	// Heads are head files to check the chains against. A head whose
	// chain is not among the records given is a problem.
	Heads []string
	// FindHeads also reads every *.head file in the directories of the
	// trail's files; one whose chain is not among the records given is
	// only listed (it may be another trail's).
	FindHeads bool
	// Progress, when set, is called with the number of bytes read so far
	// (of the files' contents as stored, compressed for .gz) and of lines
	// read, from one goroutine, after every block of about 1 MiB.
	Progress func(read, lines int64)
}

// HeadCheck is a head file and what Verify made of it.
type HeadCheck struct {
	File string
	auditlog.Head
	// Explicit reports that the head was given (Options.Heads), not found.
	Explicit bool
	// Result is "matches" (the head is the chain's newest record),
	// "behind" (an older record of the chain: the sink had not yet
	// rewritten it, or is still writing), "older" (older than every record
	// given, so not checked), "unmatched" (no records of its chain were
	// given) or "unreadable"; Err says why for the last.
	Result string
	Err    error
}

// ChainReport is the verdict on one chain: the records of one sink's
// trail, identified by the chain id every record carries (delivery.chain).
type ChainReport struct {
	// ID is the chain id; "" for a chain written before chain ids.
	ID string
	// Files are the chain's files in the order verified (by content:
	// each file's first seq), empty ones not included.
	Files []string
	// Records is the number of records verified (before Problem, if any).
	Records int
	// FirstSeq and LastSeq are the integrity seqs of the first and last
	// record verified, FirstTime and LastTime their timestamps.
	FirstSeq, LastSeq   uint64
	FirstTime, LastTime string
	// Start is where the first record verified stands.
	Start Position
	// Genesis reports that the verified chain starts with the genesis
	// record (seq 1): nothing older was rotated away or left out.
	Genesis bool
	// Head is the head file the chain was checked against; nil when none
	// was found.
	Head *HeadCheck
	// Problem is the first problem found; nil when the chain is intact.
	Problem *Problem
}

// OK reports that no problem was found.
func (c ChainReport) OK() bool { return c.Problem == nil }

// String is the one-line verdict: "OK: 20000 records, seq 1-20000, 6
// files" or "FAIL: audit.jsonl.2 line 57: record altered (hash mismatch at
// seq 1234)".
func (c ChainReport) String() string {
	if c.Problem != nil {
		return "FAIL: " + c.Problem.Error()
	}
	s := "OK: " + plural(c.Records, "record")
	if c.Records > 0 {
		s += fmt.Sprintf(", seq %d-%d", c.FirstSeq, c.LastSeq)
	}
	return s + ", " + plural(len(c.Files), "file")
}

// Report is the result of Verify.
type Report struct {
	// Chains are the chains found, by the time of their first record.
	Chains []ChainReport
	// Files is the number of trail files read, empty ones included.
	Files int
	// Bytes is the number of bytes read (as stored).
	Bytes int64
	// Skipped are files found in a directory that are not audit files.
	Skipped []string
	// Heads are the head files read, those that match no chain included.
	Heads []HeadCheck
}

// OK reports that every chain is intact and every head given matches.
func (r Report) OK() bool {
	for _, c := range r.Chains {
		if !c.OK() {
			return false
		}
	}
	for _, h := range r.Heads {
		if h.Explicit && (h.Result == "unmatched" || h.Result == "unreadable") {
			return false
		}
	}
	return true
}

// Problem is the first problem of the first failing chain, nil when
// every chain is intact.
func (r Report) Problem() *Problem {
	for _, c := range r.Chains {
		if c.Problem != nil {
			return c.Problem
		}
	}
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// Verify checks the hash chains in files, given in any order: it reads
// the first record of each file, groups the files by chain id, orders
// each chain's files by their first seq, and walks each chain, checking
// every record's hash (canonicalised and hashed in parallel) and its
// place in the chain (in order). It reports each chain's first problem,
// with its file and line, and checks each chain against its head file.
// The error is for files that cannot be read. Files repeated (the same
// file twice) are read once; of a backup present both plain and gzipped
// (a compression in progress) only the plain one is read.
func Verify(files []string, opts Options) (Report, error) {
	v := &verifier{opts: opts, workers: max(1, runtime.GOMAXPROCS(0))}
	return v.run(files, nil)
}

type verifier struct {
	opts    Options
	workers int
	read    int64 // bytes read, for Progress and Report.Bytes
	lines   int64 // lines read, for Progress
}

// trailFile is a file and what its first record says.
type trailFile struct {
	path  string
	chain string
	seq   uint64 // first seq, 0 for a file without records
	hash  string
	found bool // a record was found at all
}

func (v *verifier) run(paths []string, fromDir map[string]bool) (Report, error) {
	var rep Report
	paths = dedupe(paths)
	var tfs []trailFile
	for _, p := range paths {
		tf, empty, err := firstRecord(p)
		if err != nil {
			return rep, err
		}
		rep.Files++
		switch {
		case empty:
			continue
		case !tf.found && fromDir[p]:
			rep.Skipped = append(rep.Skipped, p)
			rep.Files--
			continue
		}
		tfs = append(tfs, tf)
	}
	tfs = dropCompressing(tfs)
	groups := map[string][]trailFile{}
	var order []string
	for _, tf := range tfs {
		key := tf.chain
		if !tf.found {
			key = "\x00" + tf.path // not a record at all: a chain of its own, which fails
		}
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], tf)
	}
	heads, err := v.heads(paths)
	if err != nil {
		return rep, err
	}
	for _, key := range order {
		g := groups[key]
		slices.SortStableFunc(g, func(a, b trailFile) int {
			return cmp.Or(cmp.Compare(a.seq, b.seq), strings.Compare(a.path, b.path))
		})
		c := ChainReport{ID: g[0].chain}
		if !g[0].found {
			c.ID = ""
		}
		for _, tf := range g {
			c.Files = append(c.Files, tf.path)
		}
		var head *HeadCheck
		if g[0].found {
			head = pickHead(heads, c.ID)
		}
		if err := v.walk(&c, head); err != nil {
			return rep, err
		}
		rep.Chains = append(rep.Chains, c)
	}
	for _, h := range heads {
		if h.Result == "" {
			h.Result = "unmatched"
		}
		rep.Heads = append(rep.Heads, *h)
	}
	slices.SortStableFunc(rep.Chains, func(a, b ChainReport) int { return strings.Compare(a.FirstTime, b.FirstTime) })
	rep.Bytes = v.read
	return rep, nil
}

// dedupe drops repeated paths (the same file named twice).
func dedupe(paths []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			abs = p
		}
		if !seen[abs] {
			seen[abs] = true
			out = append(out, p)
		}
	}
	return out
}

// dropCompressing drops X.gz when X is there too with the same first
// record: lumberjack is compressing it.
func dropCompressing(tfs []trailFile) []trailFile {
	plain := map[string]trailFile{}
	for _, tf := range tfs {
		if !strings.HasSuffix(tf.path, ".gz") {
			plain[tf.path] = tf
		}
	}
	return slices.DeleteFunc(tfs, func(tf trailFile) bool {
		p, ok := plain[strings.TrimSuffix(tf.path, ".gz")]
		return ok && tf.path != p.path
	})
}

// firstRecords bounds how far firstRecord looks for a record.
const firstRecords = 100

// firstRecord reads the first record of a file: the first of its first
// lines that parses (a damaged first line is reported by the walk). empty
// reports a file without any line.
func firstRecord(path string) (trailFile, bool, error) {
	tf := trailFile{path: path}
	rc, err := auditlog.Open(path)
	if err != nil {
		return tf, false, err
	}
	defer rc.Close()
	ls := auditlog.NewLines(rc)
	for i := 0; i < firstRecords; i++ {
		line, _, err := ls.Next()
		if err == io.EOF {
			return tf, i == 0, nil
		}
		if err != nil {
			return tf, false, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if rec, err := auditlog.Parse(line); err == nil {
			tf.chain, tf.seq, tf.hash, tf.found = rec.Delivery.Chain, rec.Integrity.Seq, rec.Integrity.Hash, true
			return tf, false, nil
		}
	}
	return tf, false, nil
}

// heads reads the head files given and, with FindHeads, those beside the
// trail's files.
func (v *verifier) heads(paths []string) ([]*HeadCheck, error) {
	var out []*HeadCheck
	seen := map[string]bool{}
	add := func(path string, explicit bool) error {
		abs, _ := filepath.Abs(path)
		if seen[abs] {
			return nil
		}
		seen[abs] = true
		h, err := auditlog.ReadHead(path, v.opts.Key)
		switch {
		case explicit && errors.Is(err, fs.ErrNotExist):
			return err
		case err != nil:
			out = append(out, &HeadCheck{File: path, Head: h, Explicit: explicit, Result: "unreadable", Err: err})
		default:
			out = append(out, &HeadCheck{File: path, Head: h, Explicit: explicit})
		}
		return nil
	}
	for _, p := range v.opts.Heads {
		if err := add(p, true); err != nil {
			return nil, err
		}
	}
	if v.opts.FindHeads {
		dirs := map[string]bool{}
		for _, p := range paths {
			if d := filepath.Dir(p); !dirs[d] {
				dirs[d] = true
				for _, h := range headsIn(d) {
					if err := add(h, false); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	return out, nil
}

// pickHead is the newest readable head of the chain. A damaged head file
// cannot name its chain: it is matched to every chain, and reported.
func pickHead(heads []*HeadCheck, chain string) *HeadCheck {
	var best *HeadCheck
	for _, h := range heads {
		switch {
		case h.Result == "unreadable":
			if best == nil {
				best = h
			}
		case h.Chain == chain && (best == nil || best.Result == "unreadable" || h.Seq > best.Seq):
			best = h
		}
	}
	return best
}

// walk verifies one chain's files in order.
func (v *verifier) walk(c *ChainReport, head *HeadCheck) error {
	var prev struct {
		seq  uint64
		hash [32]byte
		pos  Position
	}
	var headHash [32]byte
	var headSeq uint64
	if head != nil && head.Result != "unreadable" {
		hex.Decode(headHash[:], []byte(head.Hash))
		headSeq = head.Seq
	}
	var lastLine []byte
	fail := func(kind ProblemKind, at Position, seq uint64, format string, args ...any) {
		c.Problem = &Problem{Kind: kind, Position: at, Seq: seq, Message: fmt.Sprintf(format, args...)}
	}
	var last Position
	err := v.scan(c.Files, c.ID, func(at place, line []byte, r *lineResult) (bool, error) {
		last = at.Position
		switch {
		case r.torn:
			fail(Altered, at.Position, 0, "record altered (incomplete last line without a newline: a crash, or a write in progress)")
			return false, nil
		case r.err != nil:
			fail(Altered, at.Position, 0, "record altered (not an audit record: %v)", r.err)
			return false, nil
		case !r.hashOK:
			fail(Altered, at.Position, r.seq, "record altered (hash mismatch at seq %d)", r.seq)
			return false, nil
		case r.otherChain:
			fail(BrokenLink, at.Position, r.seq, "chain broken (seq %d belongs to another chain, %q)", r.seq, r.chain)
			return false, nil
		}
		var gap *auditlog.Gap
		if r.gap {
			if g, ok := auditlog.ParseGap(line); ok {
				gap = &g
			}
		}
		if c.Records == 0 {
			switch {
			case r.seq == 1 && r.prev != genesis:
				fail(BrokenLink, at.Position, r.seq, "chain broken (seq 1 does not start from the genesis hash)")
				return false, nil
			case r.seq != 1 && r.prev == genesis:
				fail(BrokenLink, at.Position, r.seq, "chain broken (the genesis hash is the prev_hash of seq %d, not of seq 1)", r.seq)
				return false, nil
			}
			c.Start, c.FirstSeq, c.Genesis = at.Position, r.seq, r.seq == 1
			c.FirstTime = timestamp(line)
		} else {
			want := prev.seq + 1
			switch {
			case r.seq > want && gap != nil && gap.FirstMissing == want && gap.LastMissing == r.seq-1:
				fail(GapRecorded, at.Position, r.seq, "records missing (%s, before seq %d): the sink found them gone when it started and recorded this audit_gap (%s: %s)", gap.Missing(), r.seq, gap.Reason, gap.Detail)
				return false, nil
			case r.seq > want:
				found, _, err := v.find(c.Files, want, at, true)
				switch {
				case err != nil:
					return false, err
				case found != nil:
					fail(Reordered, at.Position, r.seq, "record out of order (seq %d where seq %d was expected; seq %d is at %s)", r.seq, want, want, found)
				case r.seq == want+1:
					fail(Missing, at.Position, r.seq, "record missing (seq %d, before seq %d)", want, r.seq)
				default:
					fail(Missing, at.Position, r.seq, "records missing (seq %d-%d, before seq %d)", want, r.seq-1, r.seq)
				}
				return false, nil
			case r.seq < want:
				found, hash, err := v.find(c.Files, r.seq, at, false)
				switch {
				case err != nil:
					return false, err
				case found != nil && hash == hex.EncodeToString(r.hash[:]):
					fail(Duplicated, at.Position, r.seq, "record duplicated (seq %d, first at %s)", r.seq, found)
				default:
					fail(Reordered, at.Position, r.seq, "record out of order (seq %d after seq %d)", r.seq, prev.seq)
				}
				return false, nil
			case r.prev != prev.hash:
				fail(BrokenLink, at.Position, r.seq, "chain broken (prev_hash of seq %d is not the hash of seq %d at %s)", r.seq, prev.seq, prev.pos)
				return false, nil
			}
		}
		if gap != nil {
			fail(GapRecorded, at.Position, r.seq, "audit_gap recorded by the sink at seq %d (%s: %s)", r.seq, gap.Reason, gap.Detail)
			return false, nil
		}
		if r.seq == headSeq {
			if r.hash != headHash {
				fail(HeadMismatch, at.Position, r.seq, "record replaced (seq %d is not the record the head file %s names)", r.seq, head.File)
				return false, nil
			}
		}
		c.Records++
		c.LastSeq = r.seq
		prev.seq, prev.hash, prev.pos = r.seq, r.hash, at.Position
		lastLine = append(lastLine[:0], line...) // line is the block's, recycled
		return true, nil
	})
	if err != nil {
		return err
	}
	if c.Records > 0 {
		c.LastTime = timestamp(lastLine)
	}
	c.Head = head
	switch {
	case head == nil:
	case head.Result == "unreadable":
		if c.Problem == nil {
			fail(HeadMismatch, Position{File: head.File, Line: 1}, 0, "head file unusable (%v)", head.Err)
		}
	case c.Problem != nil:
		head.Result = "not checked"
	case head.Seq > c.LastSeq:
		head.Result = "ahead"
		end := Position{File: last.File, Line: last.Line + 1}
		when := head.Time.UTC().Format("2006-01-02T15:04:05Z")
		if head.Seq == c.LastSeq+1 {
			fail(Truncated, end, 0, "record missing at the end (seq %d): the head file %s says the chain reached it at %s", head.Seq, head.File, when)
		} else {
			fail(Truncated, end, 0, "records missing at the end (seq %d-%d): the head file %s says the chain reached seq %d at %s", c.LastSeq+1, head.Seq, head.File, head.Seq, when)
		}
	case head.Seq < c.FirstSeq:
		head.Result = "older"
	case head.Seq == c.LastSeq:
		head.Result = "matches"
	default:
		head.Result = "behind"
	}
	return nil
}

var genesis [32]byte // decoded GenesisHash: all zeros

// timestamp is a record's top-level "timestamp", "" when it has none.
func timestamp(line []byte) string {
	var rec struct {
		Timestamp string `json:"timestamp"`
	}
	_ = json.Unmarshal(line, &rec)
	return rec.Timestamp
}

// place is a Position and the index of its file in the list.
type place struct {
	Position
	file int
}

func (p place) before(q place) bool {
	return p.file < q.file || p.file == q.file && p.Line < q.Line
}

// find looks for the first record with integrity seq seq after at (or
// before it) in files and returns its position and hash. It is the slow
// path that classifies a problem, read only once one was found.
func (v *verifier) find(files []string, seq uint64, at place, after bool) (*Position, string, error) {
	for i, path := range files {
		if !after && i > at.file || after && i < at.file {
			continue
		}
		found, hash, err := findIn(path, i, seq, at, after)
		if err != nil || found != nil {
			return found, hash, err
		}
	}
	return nil, "", nil
}

func findIn(path string, i int, seq uint64, at place, after bool) (*Position, string, error) {
	rc, err := auditlog.Open(path)
	if err != nil {
		return nil, "", err
	}
	defer rc.Close()
	ls := auditlog.NewLines(rc)
	for {
		line, _, err := ls.Next()
		if err == io.EOF {
			return nil, "", nil
		}
		if err != nil {
			return nil, "", &fs.PathError{Op: "read", Path: path, Err: err}
		}
		p := place{Position{path, ls.Line()}, i}
		if !after && !p.before(at) {
			return nil, "", nil
		}
		if after && !at.before(p) {
			continue
		}
		var rec struct{ Integrity auditlog.Integrity }
		if json.Unmarshal(line, &rec) == nil && rec.Integrity.Seq == seq {
			return &p.Position, rec.Integrity.Hash, nil
		}
	}
}
