package auditlog

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"unicode/utf8"
)

// GenesisHash is the prev_hash of the first record of a chain.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// The reserved top-level keys a record adds to its event.
const (
	KeyDelivery  = "delivery"
	KeyIntegrity = "integrity"
)

var (
	// ErrInvalidEvent is returned by Seal for an event it cannot record
	// as is: not a JSON object, duplicate keys, or a reserved key.
	ErrInvalidEvent = errors.New("invalid audit event")
	// ErrHashMismatch is returned by Check for a record whose hash does
	// not match its content (or was made with another key).
	ErrHashMismatch = errors.New("hash mismatch")
)

// Delivery is a record's position in the host's delivery stream.
type Delivery struct {
	Stream string `json:"stream"`
	Seq    uint64 `json:"seq"`
	// Chain is the chain id: random at the genesis, the same in every
	// record of the chain across rotations and restarts; it tells
	// several sinks' trails apart. Empty for chains started before it
	// existed (they keep none).
	Chain string `json:"chain,omitempty"`
}

// Integrity is a record's place in the hash chain.
type Integrity struct {
	Seq      uint64 `json:"seq"`
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}

// Record is what the chain reads from a line. Delivery is zero when the
// record has none.
type Record struct {
	Delivery  Delivery
	Integrity Integrity
}

// Parse reads the delivery and integrity of a record (one line, with or
// without its newline) and checks their shape, not the hash (see Check).
func Parse(line []byte) (Record, error) {
	rec, _, err := ParseCanonical(line)
	return rec, err
}

// Canonical is the canonical form of a record: the bytes its hash covers
// (see the package documentation).
func Canonical(record []byte) ([]byte, error) {
	obj, err := decodeObject(bytes.TrimSuffix(record, []byte("\n")))
	if err != nil {
		return nil, err
	}
	delete(obj, KeyIntegrity)
	return encode(obj)
}

// Hash is the chain hash of a record whose canonical form is canonical and
// whose predecessor's hash is prevHash: SHA-256, or HMAC-SHA256 when key
// is not empty, over prevHash + "\n" + canonical, in lowercase hex.
func Hash(key []byte, prevHash string, canonical []byte) string {
	return NewHasher(key).sum(prevHash, canonical)
}

// Check parses a record and checks that its hash matches its content and
// prev_hash under key. It returns the record and, on a mismatch, an error
// wrapping ErrHashMismatch.
func Check(line []byte, key []byte) (Record, error) {
	rec, canon, err := ParseCanonical(line)
	if err != nil {
		return rec, err
	}
	if Hash(key, rec.Integrity.PrevHash, canon) != rec.Integrity.Hash {
		return rec, fmt.Errorf("record seq %d: %w", rec.Integrity.Seq, ErrHashMismatch)
	}
	return rec, nil
}

// Chain seals events into records. It is not safe for concurrent use.
type Chain struct {
	h    *Hasher
	seq  uint64
	head string
	id   string
	fast FastCanonicaliser // nil: Seal decodes every event
}

// FastCanonicaliser is Seal's fast path (see SetFast): a canonicaliser
// that works on a record's bytes, as auditlog/fastcanon's does, instead of
// decoding the event into maps.
type FastCanonicaliser interface {
	// CanonicalRecord returns the canonical form of record, one record
	// line without its newline, or ok false to decline it. It must
	// decline any line that is not compact (insignificant whitespace),
	// and where it accepts one its result must equal ParseCanonical's.
	// The result is valid until the next call.
	CanonicalRecord(record []byte) (canonical []byte, ok bool)
}

// SetFast makes Seal try f first: Seal then writes the record line
// straight from the event's bytes and has f canonicalise it, and takes its
// reference path (decode, check, compact, encode) only for events f
// declines. The records are the same either way.
func (c *Chain) SetFast(f FastCanonicaliser) { c.fast = f }

// NewChain starts a chain at the genesis; key (may be empty) selects
// HMAC-SHA256 instead of SHA-256. Resume or SetHead continue an existing
// chain.
func NewChain(key []byte) *Chain {
	return &Chain{h: NewHasher(key), head: GenesisHash}
}

// SetID sets the chain id that Seal writes into delivery.chain ("" for
// none). Resume takes it from the record resumed.
func (c *Chain) SetID(id string) { c.id = id }

// ID is the chain id.
func (c *Chain) ID() string { return c.id }

// Seq is the integrity.seq of the last record sealed or resumed (0 at the
// genesis).
func (c *Chain) Seq() uint64 { return c.seq }

// Head is the hash of the last record sealed or resumed (GenesisHash at
// the genesis).
func (c *Chain) Head() string { return c.head }

// SetHead places the chain after the record with integrity seq and hash,
// for example to undo Seals whose records were never written. Seq 0 with
// GenesisHash is the genesis.
func (c *Chain) SetHead(seq uint64, hash string) error {
	if !IsHash(hash) {
		return fmt.Errorf("chain head %q is not 64 lowercase hex digits", hash)
	}
	if (seq == 0) != (hash == GenesisHash) {
		return fmt.Errorf("chain head seq %d with hash %s: only seq 0 is the genesis", seq, hash)
	}
	c.seq, c.head = seq, hash
	return nil
}

// Resume continues the chain after line, the last record written. It
// checks the record's shape, not its hash (see Check).
func (c *Chain) Resume(line []byte) (Record, error) {
	rec, err := Parse(line)
	if err != nil {
		return rec, err
	}
	c.id = rec.Delivery.Chain
	return rec, c.SetHead(rec.Integrity.Seq, rec.Integrity.Hash)
}

// Seal turns an event (a JSON object) from delivery stream stream at
// position streamSeq into the next record of the chain: the event
// compacted, with delivery and integrity appended, and a trailing newline.
// Invalid UTF-8 in the event is replaced by U+FFFD first. An event that is
// not a JSON object, has duplicate keys or uses a reserved key yields an
// error wrapping ErrInvalidEvent, and the chain does not advance.
func (c *Chain) Seal(event []byte, stream string, streamSeq uint64) ([]byte, error) {
	valid := utf8.Valid(event)
	if c.fast != nil && valid {
		if line, ok := c.sealFast(event, stream, streamSeq); ok {
			return line, nil
		}
	}
	if !valid {
		event = bytes.ToValidUTF8(event, []byte("\uFFFD"))
	}
	stream = strings.ToValidUTF8(stream, "\uFFFD")
	obj, err := decodeObject(event)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	for _, k := range []string{KeyDelivery, KeyIntegrity} {
		if _, ok := obj[k]; ok {
			return nil, fmt.Errorf("%w: the top-level key %q is reserved", ErrInvalidEvent, k)
		}
	}
	empty := len(obj) == 0
	var compact bytes.Buffer
	compact.Grow(len(event))
	if err := json.Compact(&compact, event); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	d := map[string]any{"stream": stream, "seq": json.Number(strconv.FormatUint(streamSeq, 10))}
	if c.id != "" {
		d["chain"] = c.id
	}
	obj[KeyDelivery] = d
	canon, err := encode(obj)
	if err != nil {
		return nil, err
	}
	sum := c.h.sum(c.head, canon)
	ev := compact.Bytes()
	line := c.appendRecord(make([]byte, 0, len(ev)+len(stream)+240), ev, empty, stream, streamSeq, sum)
	c.seq, c.head = c.seq+1, sum
	return line, nil
}

// sealFast is Seal through c.fast for an event in valid UTF-8: the line is
// written from the event's bytes with a placeholder hash, canonicalised by
// c.fast, and the hash filled in. ok is false (and the chain unchanged)
// when c.fast declines the line: the event is not compact, not an object,
// has duplicate or reserved keys, or anything else it is not sure about.
func (c *Chain) sealFast(event []byte, stream string, streamSeq uint64) (_ []byte, ok bool) {
	n := len(event)
	if n < 2 || event[0] != '{' || event[n-1] != '}' || !utf8.ValidString(stream) {
		return nil, false
	}
	line := c.appendRecord(make([]byte, 0, n+len(stream)+len(c.id)+260), event, n == 2, stream, streamSeq, GenesisHash) // 260: the rest of appendRecord at most
	canon, ok := c.fast.CanonicalRecord(line[:len(line)-1])
	if !ok {
		return nil, false
	}
	sum := c.h.sum(c.head, canon)
	copy(line[len(line)-len(GenesisHash)-len("\"}}\n"):], sum)
	c.seq, c.head = c.seq+1, sum
	return line, true
}

// appendRecord appends the record line of event (a compact JSON object;
// empty: it is {}) as the chain's next record with hash sum: the event
// without its closing brace, then delivery and integrity, and a newline.
func (c *Chain) appendRecord(line, event []byte, empty bool, stream string, streamSeq uint64, sum string) []byte {
	line = append(line, event[:len(event)-1]...) // without the closing brace
	if !empty {
		line = append(line, ',')
	}
	line = append(line, `"delivery":{"stream":`...)
	line = appendString(line, stream)
	line = append(line, `,"seq":`...)
	line = strconv.AppendUint(line, streamSeq, 10)
	if c.id != "" {
		line = append(line, `,"chain":`...)
		line = appendString(line, c.id)
	}
	line = append(line, `},"integrity":{"seq":`...)
	line = strconv.AppendUint(line, c.seq+1, 10)
	line = append(line, `,"prev_hash":"`...)
	line = append(line, c.head...)
	line = append(line, `","hash":"`...)
	line = append(line, sum...)
	return append(line, "\"}}\n"...)
}

// ParseCanonical is Parse that also returns the record's canonical form
// (see Canonical), decoding the line once.
func ParseCanonical(line []byte) (Record, []byte, error) {
	var rec Record
	obj, err := decodeObject(bytes.TrimSuffix(line, []byte("\n")))
	if err != nil {
		return rec, nil, err
	}
	in, ok := obj[KeyIntegrity].(map[string]any)
	if !ok {
		return rec, nil, errors.New(`no "integrity" object`)
	}
	if rec.Integrity, err = integrity(in); err != nil {
		return rec, nil, fmt.Errorf("integrity: %w", err)
	}
	if d, ok := obj[KeyDelivery]; ok {
		if rec.Delivery, err = delivery(d); err != nil {
			return rec, nil, fmt.Errorf("delivery: %w", err)
		}
	}
	delete(obj, KeyIntegrity)
	canon, err := encode(obj)
	return rec, canon, err
}

func integrity(in map[string]any) (Integrity, error) {
	var out Integrity
	if len(in) != 3 {
		// The integrity object is outside the hash: nothing may hide in it.
		return out, errors.New("want exactly seq, prev_hash and hash")
	}
	seq, err := uintField(in, "seq")
	if err != nil {
		return out, err
	}
	if seq == 0 {
		return out, errors.New("seq 0: sequence numbers start at 1")
	}
	out.Seq = seq
	for _, f := range []struct {
		name string
		dst  *string
	}{{"prev_hash", &out.PrevHash}, {"hash", &out.Hash}} {
		s, ok := in[f.name].(string)
		if !ok || !IsHash(s) {
			return out, fmt.Errorf("%s is not 64 lowercase hex digits", f.name)
		}
		*f.dst = s
	}
	return out, nil
}

func delivery(v any) (Delivery, error) {
	var out Delivery
	d, ok := v.(map[string]any)
	if !ok {
		return out, errors.New("not an object")
	}
	if out.Stream, ok = d["stream"].(string); !ok {
		return out, errors.New("stream is not a string")
	}
	if c, ok := d["chain"]; ok {
		if out.Chain, ok = c.(string); !ok {
			return out, errors.New("chain is not a string")
		}
	}
	seq, err := uintField(d, "seq")
	out.Seq = seq
	return out, err
}

func uintField(m map[string]any, name string) (uint64, error) {
	n, ok := m[name].(json.Number)
	if !ok {
		return 0, fmt.Errorf("%s is not a number", name)
	}
	v, err := strconv.ParseUint(string(n), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %s is not an unsigned integer", name, n)
	}
	return v, nil
}

// IsHash reports whether s is a chain hash: 64 lowercase hex digits.
func IsHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !lowerHex[s[i]] {
			return false
		}
	}
	return true
}

// lowerHex marks the lowercase hex digits (a table: IsHash runs twice per
// record verified).
var lowerHex = func() (t [256]bool) {
	for _, c := range hexDigits {
		t[c] = true
	}
	return t
}()

// Hasher computes chain hashes (see Hash), reusing its state between
// records. It is not safe for concurrent use: take one per goroutine.
type Hasher struct {
	h   hash.Hash
	buf []byte
}

// NewHasher returns a Hasher for key: SHA-256 when key is empty,
// HMAC-SHA256 otherwise.
func NewHasher(key []byte) *Hasher {
	if len(key) == 0 {
		return &Hasher{h: sha256.New()}
	}
	return &Hasher{h: hmac.New(sha256.New, bytes.Clone(key))}
}

func (h *Hasher) sum(prev string, canonical []byte) string {
	h.h.Reset()
	h.h.Write([]byte(prev))
	h.h.Write([]byte{'\n'})
	h.h.Write(canonical)
	h.buf = h.h.Sum(h.buf[:0])
	return hex.EncodeToString(h.buf)
}

// SumRaw is the chain hash of canonical after prev (a hash in lowercase
// hex), not hex encoded.
func (h *Hasher) SumRaw(prev []byte, canonical []byte) (out [32]byte) {
	h.h.Reset()
	h.h.Write(prev)
	h.h.Write([]byte{'\n'})
	h.h.Write(canonical)
	h.h.Sum(out[:0])
	return out
}
