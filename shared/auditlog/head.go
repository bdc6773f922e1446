package auditlog

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// HeadSuffix is appended to an audit file's path to name its head file
// when the sink's head_file is not set: logs/audit.jsonl.head.
const HeadSuffix = ".head"

// EventGap is the event_type of the record a sink writes when it finds,
// on start, that its trail no longer reaches the head it persisted: the
// newest records were cut off, replaced or deleted while it was stopped.
const EventGap = "audit_gap"

var (
	// ErrHeadMAC is returned by ReadHead for a head file whose mac does
	// not verify with the key (altered, or written with another key).
	ErrHeadMAC = errors.New("the head file's mac does not verify with the key")
	// ErrHeadUnkeyed is returned by ReadHead when a key is given but the
	// head file has no mac: whoever wrote it did not have the key.
	ErrHeadUnkeyed = errors.New("the head file has no mac, but a key is configured")
)

// Head is the newest record of a chain as the sink last made durable: it
// lives outside the audit files, so removing the newest records from
// them no longer goes unnoticed. The sink rewrites it (temporary file,
// fsync, rename) after every sync of the audit file.
type Head struct {
	// Chain is the chain id (delivery.chain of every record), "" for a
	// chain started before chain ids existed.
	Chain string
	// Seq and Hash are the integrity seq and hash of the newest record.
	Seq  uint64
	Hash string
	// Time is when the head was written.
	Time time.Time
	// File is the audit file's base name, for people reading the head.
	File string
	// Keyed reports that the head carries a mac (ReadHead checked it when
	// given a key).
	Keyed bool
}

type headJSON struct {
	Version int    `json:"argus_audit_head"`
	Chain   string `json:"chain"`
	Seq     uint64 `json:"seq"`
	Hash    string `json:"hash"`
	Time    string `json:"time"`
	File    string `json:"file"`
	MAC     string `json:"mac,omitempty"`
}

func headMAC(key []byte, h headJSON) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "argus audit head %d\n%s\n%d\n%s\n%s\n%s", h.Version, h.Chain, h.Seq, h.Hash, h.Time, h.File)
	return hex.EncodeToString(m.Sum(nil))
}

// WriteHead replaces the head file at path with h, atomically: it writes
// path+".tmp", fsyncs it when sync is set, and renames it over path. With
// a key the head carries an HMAC-SHA256 mac, so that a new head cannot be
// forged without the key.
func WriteHead(path string, h Head, key []byte, sync bool) error {
	j := headJSON{Version: 1, Chain: h.Chain, Seq: h.Seq, Hash: h.Hash, Time: h.Time.UTC().Format(time.RFC3339Nano), File: h.File}
	if len(key) > 0 {
		j.MAC = headMAC(key, j)
	}
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("head file: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("head file: %w", err)
	}
	return nil
}

// ReadHead reads the head file at path. With a key it checks the mac
// (ErrHeadMAC, ErrHeadUnkeyed); without one it does not, and Head.Keyed
// says whether there was one. A missing file is an error wrapping
// fs.ErrNotExist.
func ReadHead(path string, key []byte) (Head, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Head{}, err
	}
	return parseHead(path, b, key)
}

func parseHead(path string, b []byte, key []byte) (Head, error) {
	var j headJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil || j.Version != 1 || !IsHash(j.Hash) || j.Seq == 0 {
		return Head{}, fmt.Errorf("%s is not an audit head file (version 1, seq ≥ 1 and a hash)", path)
	}
	h := Head{Chain: j.Chain, Seq: j.Seq, Hash: j.Hash, File: j.File, Keyed: j.MAC != ""}
	h.Time, _ = time.Parse(time.RFC3339Nano, j.Time)
	if len(key) > 0 {
		switch {
		case j.MAC == "":
			return h, fmt.Errorf("%s: %w", path, ErrHeadUnkeyed)
		case !hmac.Equal([]byte(j.MAC), []byte(headMAC(key, j))):
			return h, fmt.Errorf("%s: %w", path, ErrHeadMAC)
		}
	}
	return h, nil
}

// IsHeadFile reports whether a file name is a head file or one being
// written (name.head, name.head.tmp) rather than part of a trail.
func IsHeadFile(name string) bool {
	return strings.HasSuffix(name, HeadSuffix) || strings.HasSuffix(name, HeadSuffix+".tmp")
}

// NewChainID returns a new random chain id: 16 random bytes, hex.
func NewChainID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Gap is what an audit_gap record carries under its "gap" key.
type Gap struct {
	// Reason is one of "truncated" (the trail ends before the head: the
	// newest records were cut off or deleted), "replaced" (the record at
	// the head's seq is another one), "trail missing" (no records at all,
	// but a head), "other chain" (the trail's newest record belongs to
	// another chain than the head) and "head unreadable" (the head file
	// is damaged or its mac does not verify).
	Reason string `json:"reason"`
	// FirstMissing and LastMissing are the integrity seqs lost, when
	// known (0 otherwise).
	FirstMissing uint64 `json:"first_missing,omitempty"`
	LastMissing  uint64 `json:"last_missing,omitempty"`
	// The head the sink had persisted, and the newest record it found.
	HeadChain string `json:"head_chain,omitempty"`
	HeadSeq   uint64 `json:"head_seq,omitempty"`
	HeadHash  string `json:"head_hash,omitempty"`
	HeadTime  string `json:"head_time,omitempty"`
	FoundSeq  uint64 `json:"found_seq,omitempty"`
	FoundHash string `json:"found_hash,omitempty"`
	// Detail says more, in words.
	Detail string `json:"detail,omitempty"`
}

// Missing describes the lost range in words: "seq 91-100".
func (g Gap) Missing() string {
	switch {
	case g.FirstMissing == 0:
		return ""
	case g.FirstMissing == g.LastMissing:
		return "seq " + strconv.FormatUint(g.FirstMissing, 10)
	}
	return fmt.Sprintf("seq %d-%d", g.FirstMissing, g.LastMissing)
}

// GapEvent is the audit event of an audit_gap record.
func GapEvent(g Gap, now time.Time) []byte {
	b, _ := json.Marshal(struct {
		Timestamp string `json:"timestamp"`
		EventType string `json:"event_type"`
		Gap       Gap    `json:"gap"`
	}{now.UTC().Format("2006-01-02T15:04:05.000000+00:00"), EventGap, g})
	return b
}

// ParseGap reads the gap of an audit_gap record; ok is false for any
// other record.
func ParseGap(line []byte) (Gap, bool) {
	var rec struct {
		EventType string `json:"event_type"`
		Gap       *Gap   `json:"gap"`
	}
	if json.Unmarshal(line, &rec) != nil || rec.EventType != EventGap || rec.Gap == nil {
		return Gap{}, false
	}
	return *rec.Gap, true
}
