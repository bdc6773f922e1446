// Package fastcanon is the audit verifier's fast path: it writes a
// record's canonical form (see package auditlog) straight from its bytes
// and reads its integrity and delivery, declining whatever it is not sure
// about so that auditlog.ParseCanonical, the reference, handles it.
package fastcanon

import (
	"bytes"
	"unicode/utf8"

	"github.com/argusmcp/argus/shared/auditlog"
)

// fastMaxDepth is the nesting the fast path handles; deeper records take
// the general parser (auditlog.Canonical, which allows 1000 levels).
const fastMaxDepth = 64

// GapMarker is the top-level member of an audit_gap record, as the jsonl
// sink writes it.
var GapMarker = []byte(`"event_type":"` + auditlog.EventGap + `"`)

// Canonicaliser is the verifier's fast path: a validating scanner that
// writes a record's canonical form straight from its bytes, without
// building a map per object, and reads its integrity and delivery. It
// reuses its buffers from record to record; one per worker, not safe for
// concurrent use.
//
// It handles what the jsonl sink writes and recognises only input it is
// sure about: any record it declines (invalid JSON, duplicate or escaped
// keys, escaped or odd integrity and delivery members, lone surrogates,
// invalid UTF-8, deep nesting) goes to auditlog.ParseCanonical, the reference, which also
// words the error. Where it accepts a line it yields exactly what parse
// yields (FuzzFastCanonical holds the two together), so correctness never
// depends on it.
type Canonicaliser struct {
	data []byte
	pos  int
	// out is the canonical form of the last record accepted.
	out     []byte
	tmp     []byte   // an object's members, while they are put in order
	members []member // the open objects' members, innermost last
	keys    []byte   // decoded keys that had escapes
	chain   []byte   // delivery.chain of the last record accepted
	spaced  bool     // the last record had insignificant whitespace
}

// member is an object member written to out: where its key (decoded)
// stands in data (or in keys when it had escapes) and where
// `"key":value` stands in out. Offsets, not slices: members are swapped
// while sorted, and pointers would cost write barriers.
type member struct {
	keyFrom, keyTo int
	escaped        bool
	start, end     int
}

// Canonical is the canonical form of the last record Record accepted,
// valid until the next call.
func (c *Canonicaliser) Canonical() []byte { return c.out }

func (c *Canonicaliser) key(m member) []byte {
	if m.escaped {
		return c.keys[m.keyFrom:m.keyTo]
	}
	return c.data[m.keyFrom:m.keyTo]
}

// Record is what the fast path reads from a record. The slices are
// valid until the next call.
type Record struct {
	Seq            uint64
	PrevHash, Hash []byte // 64 lowercase hex digits each
	Chain          []byte // delivery.chain, empty when none
	DeliverySeq    uint64
	// Gap reports a top-level member that reads exactly
	// "event_type":"audit_gap": the record may be an audit_gap (see
	// ParseGap).
	Gap bool
}

// Record canonicalises line (without its newline); Canonical returns the
// result. ok false means the fast path does not handle the line: use
// auditlog.ParseCanonical.
func (c *Canonicaliser) Record(line []byte) (rec Record, ok bool) {
	c.data, c.pos, c.spaced = line, 0, false
	c.out, c.members, c.chain, c.keys = c.out[:0], c.members[:0], c.chain[:0], c.keys[:0]
	c.ws()
	if c.pos >= len(c.data) || c.data[c.pos] != '{' || !c.object(0, &rec) {
		return rec, false
	}
	c.ws()
	rec.Chain = c.chain
	return rec, c.pos == len(c.data)
}

// CanonicalRecord implements auditlog.FastCanonicaliser, the fast path
// of auditlog.Chain.Seal (the jsonl sink sets it): Record, declining lines
// that are not compact as well, since Seal writes the event's bytes as
// they are.
func (c *Canonicaliser) CanonicalRecord(line []byte) ([]byte, bool) {
	if _, ok := c.Record(line); !ok || c.spaced {
		return nil, false
	}
	return c.out, true
}

var _ auditlog.FastCanonicaliser = (*Canonicaliser)(nil)

// object writes the canonical form of the object at pos to out. At depth
// 0 (the record) it reads the integrity member into rec instead, and
// checks delivery.
func (c *Canonicaliser) object(depth int, rec *Record) bool {
	c.pos++
	from := len(c.out)
	c.out = append(c.out, '{')
	base := len(c.members)
	integrity := false
	c.ws()
	for empty := c.eat('}'); !empty; {
		c.ws()
		keyAt := c.pos
		key, raw, plain, ok := c.readKey()
		if !ok {
			return false
		}
		m := member{keyFrom: keyAt + 1, keyTo: keyAt + 1 + len(key)}
		if !plain { // key is the last one decoded into keys
			m.escaped, m.keyFrom, m.keyTo = true, len(c.keys)-len(key), len(c.keys)
		}
		if depth == 0 && string(key) == auditlog.KeyIntegrity {
			if integrity || !c.integrity(rec) {
				return false
			}
			integrity = true
		} else {
			start := c.startMember(base, raw, plain)
			if !c.value(depth + 1) {
				return false
			}
			if depth == 0 && string(key) == auditlog.KeyDelivery && !c.delivery(rec, start+len(`"delivery":`)) {
				return false
			}
			if depth == 0 && string(c.data[keyAt:c.pos]) == string(GapMarker) {
				rec.Gap = true
			}
			m.start, m.end = start, len(c.out)
			c.members = append(c.members, m)
		}
		c.ws()
		if c.eat('}') {
			break
		}
		if !c.eat(',') {
			return false
		}
	}
	if depth == 0 && !integrity || !c.order(base, from+1) {
		return false
	}
	c.out = append(c.out, '}')
	return true
}

// startMember writes the separator and `"key":` of the next member of
// the object whose members start at members[base], and returns where
// the member starts in out. raw and plain are from key.
func (c *Canonicaliser) startMember(base int, raw []byte, plain bool) int {
	if len(c.members) > base {
		c.out = append(c.out, ',')
	}
	start := len(c.out)
	if plain {
		c.out = append(c.out, '"')
		c.out = append(c.out, raw...)
		c.out = append(c.out, '"')
	} else {
		c.out, _ = appendUnescaped(c.out, raw, true) // key checked it
	}
	c.out = append(c.out, ':')
	return start
}

// order puts the members of the object whose members start at
// members[base] and whose content starts at from in out in key order,
// as the canonical form has them, and pops them. It returns false on a
// duplicate key.
func (c *Canonicaliser) order(base, from int) bool {
	ms := c.members[base:]
	sorted := true
	for i := 1; i < len(ms); i++ {
		switch bytes.Compare(c.key(ms[i-1]), c.key(ms[i])) {
		case 0:
			return false
		case 1:
			sorted = false
		}
	}
	if !sorted {
		for i := 1; i < len(ms); i++ { // insertion sort: objects are small
			for j := i; j > 0 && bytes.Compare(c.key(ms[j-1]), c.key(ms[j])) > 0; j-- {
				ms[j-1], ms[j] = ms[j], ms[j-1]
			}
		}
		for i := 1; i < len(ms); i++ {
			if bytes.Equal(c.key(ms[i-1]), c.key(ms[i])) {
				return false
			}
		}
		c.tmp = append(c.tmp[:0], c.out[from:]...)
		c.out = c.out[:from]
		for i, m := range ms {
			if i > 0 {
				c.out = append(c.out, ',')
			}
			c.out = append(c.out, c.tmp[m.start-from:m.end-from]...)
		}
	}
	c.members = c.members[:base]
	return true
}

func (c *Canonicaliser) ws() {
	for c.pos < len(c.data) {
		switch c.data[c.pos] {
		case ' ', '\t', '\n', '\r':
			c.pos++
			c.spaced = true
		default:
			return
		}
	}
}

func (c *Canonicaliser) eat(b byte) bool {
	if c.pos < len(c.data) && c.data[c.pos] == b {
		c.pos++
		return true
	}
	return false
}

// readKey reads an object key and the colon after it. It returns the key
// decoded (members sort by it) and as read, without its quotes; plain
// reports that the latter is its canonical form.
func (c *Canonicaliser) readKey() (key, raw []byte, plain, ok bool) {
	raw, plain, ok = c.string()
	if !ok {
		return nil, nil, false, false
	}
	key = raw
	if !plain {
		from := len(c.keys)
		if c.keys, ok = appendUnescaped(c.keys, raw, false); !ok {
			return nil, nil, false, false
		}
		key = c.keys[from:]
	}
	c.ws()
	if !c.eat(':') {
		return nil, nil, false, false
	}
	c.ws()
	return key, raw, plain, true
}

// value writes the canonical form of the value at pos to out.
func (c *Canonicaliser) value(depth int) bool {
	if depth > fastMaxDepth {
		return false
	}
	c.ws()
	if c.pos >= len(c.data) {
		return false
	}
	switch b := c.data[c.pos]; b {
	case '{':
		return c.object(depth, nil)
	case '[':
		c.pos++
		c.out = append(c.out, '[')
		c.ws()
		if c.eat(']') {
			c.out = append(c.out, ']')
			return true
		}
		for {
			if !c.value(depth + 1) {
				return false
			}
			c.ws()
			if c.eat(',') {
				c.out = append(c.out, ',')
				continue
			}
			if c.eat(']') {
				c.out = append(c.out, ']')
				return true
			}
			return false
		}
	case '"':
		start := c.pos
		raw, plain, ok := c.string()
		if !ok {
			return false
		}
		if plain {
			c.out = append(c.out, c.data[start:c.pos]...)
			return true
		}
		c.out, ok = appendUnescaped(c.out, raw, true)
		return ok
	case 't', 'f', 'n':
		lit := "null"
		if b == 't' {
			lit = "true"
		} else if b == 'f' {
			lit = "false"
		}
		if end := c.pos + len(lit); end > len(c.data) || string(c.data[c.pos:end]) != lit {
			return false
		}
		c.pos += len(lit)
		c.out = append(c.out, lit...)
		return true
	}
	end := c.number()
	if end < 0 {
		return false
	}
	c.out = append(c.out, c.data[c.pos:end]...)
	c.pos = end
	return true
}

// number returns the end of the JSON number at pos, -1 when there is
// none.
func (c *Canonicaliser) number() int {
	d, i := c.data, c.pos
	digits := func() bool {
		start := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		return i > start
	}
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i >= len(d):
		return -1
	case d[i] == '0':
		i++
	case !digits():
		return -1
	}
	if i < len(d) && d[i] == '.' {
		i++
		if !digits() {
			return -1
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if !digits() {
			return -1
		}
	}
	return i
}

// uint reads a number at pos that is an unsigned integer.
func (c *Canonicaliser) uint() (uint64, bool) {
	end := c.number()
	if end < 0 {
		return 0, false
	}
	v, ok := parseUint(c.data[c.pos:end])
	c.pos = end
	return v, ok
}

// parseUint is strconv.ParseUint(s, 10, 64) for JSON number literals.
func parseUint(s []byte) (uint64, bool) {
	var v uint64
	if len(s) == 0 {
		return 0, false
	}
	for _, b := range s {
		if b < '0' || b > '9' || v > (1<<64-1)/10 {
			return 0, false
		}
		next := v*10 + uint64(b-'0')
		if next < v*10 {
			return 0, false
		}
		v = next
	}
	return v, true
}

// string reads the string at pos (its opening quote) and returns its raw
// content. plain reports that its canonical form is that content quoted:
// no escapes, nothing the encoder escapes. It declines control
// characters and invalid UTF-8; escapes are checked by appendUnescaped.
func (c *Canonicaliser) string() (raw []byte, plain, ok bool) {
	d := c.data
	if c.pos >= len(d) || d[c.pos] != '"' {
		return nil, false, false
	}
	plain = true
	for i := c.pos + 1; i < len(d); {
		for i < len(d) && plainASCII[d[i]] {
			i++
		}
		if i == len(d) {
			break
		}
		switch b := d[i]; {
		case b == '"':
			raw = d[c.pos+1 : i]
			c.pos = i + 1
			return raw, plain, true
		case b == '\\':
			plain = false
			i += 2 // the escaped character cannot end the string
		case b < 0x20:
			return nil, false, false
		default:
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size == 1 {
				return nil, false, false
			}
			if r == '\u2028' || r == '\u2029' {
				plain = false
			}
			i += size
		}
	}
	return nil, false, false
}

// plainASCII marks the bytes that stand for themselves in a string and
// in its canonical form.
var plainASCII = func() (t [256]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// appendUnescaped appends the string whose raw content (valid UTF-8,
// checked by string) is raw decoded as encoding/json does: quoted as
// appendString does (its canonical form), or with quote false as is. It
// declines invalid escapes and lone surrogates.
func appendUnescaped(dst, raw []byte, quote bool) ([]byte, bool) {
	if quote {
		dst = append(dst, '"')
	}
	for i := 0; i < len(raw); {
		var r rune
		switch b := raw[i]; {
		case b == '\\':
			if i+1 >= len(raw) {
				return dst, false
			}
			switch e := raw[i+1]; e {
			case '"', '\\', '/':
				r = rune(e)
			case 'b':
				r = '\b'
			case 'f':
				r = '\f'
			case 'n':
				r = '\n'
			case 'r':
				r = '\r'
			case 't':
				r = '\t'
			case 'u':
				var ok bool
				if r, ok = hex4(raw[i+2:]); !ok {
					return dst, false
				}
				if r >= 0xD800 && r < 0xE000 { // a surrogate: only a pair
					lo, ok := rune(0), false
					if r < 0xDC00 && len(raw) >= i+12 && raw[i+6] == '\\' && raw[i+7] == 'u' {
						lo, ok = hex4(raw[i+8:])
					}
					if !ok || lo < 0xDC00 || lo >= 0xE000 {
						return dst, false
					}
					r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
					i += 6
				}
				i += 4
			default:
				return dst, false
			}
			i += 2
		case b < utf8.RuneSelf:
			r = rune(b)
			i++
		default:
			var size int
			r, size = utf8.DecodeRune(raw[i:])
			i += size
		}
		switch {
		case !quote:
			dst = utf8.AppendRune(dst, r)
		case r < 0x20 || r == '"' || r == '\\':
			dst = auditlog.AppendEscapedByte(dst, byte(r))
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, '\\', 'u', '2', '0', '2', byte('0'+r&0xF)) // 8 or 9
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	if quote {
		dst = append(dst, '"')
	}
	return dst, true
}

// hex4 reads the 4 hex digits of a \u escape.
func hex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, b := range s[:4] {
		switch {
		case b >= '0' && b <= '9':
			b -= '0'
		case b >= 'a' && b <= 'f':
			b -= 'a' - 10
		case b >= 'A' && b <= 'F':
			b -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(b)
	}
	return r, true
}

// integrity reads the integrity object at pos: exactly seq, prev_hash and
// hash, in any order, without escapes.
func (c *Canonicaliser) integrity(rec *Record) bool {
	if !c.eat('{') {
		return false
	}
	seq := false
	for {
		c.ws()
		key, _, _, ok := c.readKey()
		if !ok {
			return false
		}
		switch string(key) {
		case "seq":
			if seq {
				return false
			}
			if rec.Seq, ok = c.uint(); !ok || rec.Seq == 0 {
				return false
			}
			seq = true
		case "prev_hash", "hash":
			dst := &rec.PrevHash
			if string(key) == "hash" {
				dst = &rec.Hash
			}
			if *dst != nil { // seen before
				return false
			}
			if *dst, ok = c.hash(); !ok {
				return false
			}
		default:
			return false
		}
		c.ws()
		if c.eat(',') {
			continue
		}
		return c.eat('}') && seq && rec.PrevHash != nil && rec.Hash != nil
	}
}

// hash reads a string of 64 lowercase hex digits at pos.
func (c *Canonicaliser) hash() ([]byte, bool) {
	raw, plain, ok := c.string()
	return raw, ok && plain && auditlog.IsHash(string(raw))
}

// delivery checks the canonical form of the delivery object, written to
// out from start: exactly {"chain":"…","seq":N,"stream":"…"}, the chain
// optional and without escapes.
func (c *Canonicaliser) delivery(rec *Record, start int) bool {
	d := c.out[start:]
	if chain, ok := bytes.CutPrefix(d, []byte(`{"chain":"`)); ok {
		end := bytes.IndexByte(chain, '"')
		if end < 0 || bytes.IndexByte(chain[:end], '\\') >= 0 {
			return false
		}
		c.chain = append(c.chain[:0], chain[:end]...)
		d = chain[end+1:]
		if len(d) == 0 || d[0] != ',' {
			return false
		}
	}
	d, ok := bytes.CutPrefix(d[1:], []byte(`"seq":`))
	if !ok {
		return false
	}
	comma := bytes.IndexByte(d, ',')
	if comma < 0 {
		return false
	}
	if rec.DeliverySeq, ok = parseUint(d[:comma]); !ok {
		return false
	}
	d, ok = bytes.CutPrefix(d[comma:], []byte(`,"stream":"`))
	if !ok {
		return false
	}
	// The stream is a canonical string: it ends at the first quote not
	// escaped, which must close the object.
	for i := 0; i < len(d); i++ {
		switch d[i] {
		case '\\':
			i++
		case '"':
			return string(d[i+1:]) == "}"
		}
	}
	return false
}
