package logging

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// redactedMarker replaces every occurrence of a secret in log output.
const redactedMarker = "[REDACTED]"

// minSecretLen is the shortest secret (in bytes, after trimming surrounding
// white space) that is registered. Shorter values are ignored because
// redacting every occurrence of, say, "a" or "42" would blank out ordinary
// log text (timestamps, levels, words) and make the logs useless, while such
// a value offers no real protection as a secret anyway.
const minSecretLen = 3

// Secrets is a concurrency-safe, growable set of secret strings whose
// occurrences are removed from log output.
//
// Safe for concurrent use: Add may be called at any time (e.g. on config
// reload) and takes effect for the next Write/Redact. Redact (and therefore
// every Write through NewRedactingWriter) never blocks on Add: Add compiles
// a new immutable matcher and publishes it through an atomic pointer.
// The zero value is an empty set ready to use; a nil *Secrets redacts
// nothing.
//
// Empty secrets, and secrets shorter than 3 bytes (after trimming
// surrounding white space), are ignored: redacting every "a" or "42" would
// blank out ordinary log text while protecting nothing worth protecting.
//
// Every encoding in which a secret can reach log output (listed on Add) is
// precomputed once, when the secret is added, never per Write. All variants
// of all secrets are compiled into a single byte trie, the equivalent of one
// strings.Replacer with longer patterns first, but it replaces the union of
// overlapping matches (strings.Replacer would leave the tail of a secret
// that overlaps the end of another one) and does not allocate when nothing
// matches.
//
// Known limits: a secret split across two Write calls, transformed in ways
// not listed on Add (hex, truncation without a marker, case changes, more than two nested
// escapings) is not recognised; inside a longer base64 text, the one or two
// characters at each edge of an encoded secret also carry bits of its
// neighbours and are left in place; and the raw form of a secret that
// itself contains a double quote can, in rare cases, also match JSON
// structure and so produce an invalid JSON line (never a leak).
type Secrets struct {
	mu       sync.Mutex          // serialises Add (writers never take it)
	seen     map[string]struct{} // secrets already registered
	patterns map[string]struct{} // all encoded variants of all secrets
	m        atomic.Pointer[matcher]
}

// NewSecrets returns a set containing values; see Add for which values are
// kept.
func NewSecrets(values ...string) *Secrets {
	s := &Secrets{}
	s.Add(values...)
	return s
}

// Add registers additional secrets. It may be called concurrently with
// Redact and with writes through any writer from NewRedactingWriter; the
// new secrets apply to every Redact/Write that starts after Add returns.
// Adding a secret already present is a no-op.
//
// Ignored values: the empty string, and values shorter than 3 bytes once
// surrounding white space is trimmed (they would blank out ordinary text).
// When a value has leading/trailing white space (typical of file()
// contents ending in a newline), the trimmed form is registered too.
//
// A value longer than 4 KiB (a certificate bundle or key file read with
// file(), say) is registered line by line instead, each line (at most its
// first 4 KiB) in its raw, JSON-escaped and Go-quoted forms only: the
// matcher's memory grows with the total length of all encodings, and every
// encoding of a large file would cost gigabytes.
//
// For every kept secret the following encodings are precomputed and
// redacted: the raw bytes; the body of a JSON string as produced by
// encoding/json with and without HTML escaping; the same JSON bodies with
// every non-ASCII rune written as \uXXXX (UTF-16 surrogate pairs above
// U+FFFF), in lower- and upper-case hex; the bodies of strconv.Quote and
// strconv.QuoteToASCII; hclog's text-format escaping of quoted values and
// of multi-line values (lines joined by "\n  | "); url.QueryEscape and
// url.PathEscape; and every composition of two of these (e.g. an error
// built with %q and then logged in JSON format). A secret of at most 128
// bytes is also redacted cut short: any prefix of at least half of it and
// 8 bytes followed by "..." or "…" (truncatedVariants).
func (s *Secrets) Add(values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = make(map[string]struct{})
		s.patterns = make(map[string]struct{})
	}
	changed := false
	for _, v := range values {
		trimmed := strings.TrimSpace(v)
		if len(trimmed) < minSecretLen {
			continue
		}
		if len(v) > maxSecretLen {
			changed = s.addLong(v) || changed
			continue
		}
		for _, cand := range []string{v, trimmed} {
			if _, ok := s.seen[cand]; ok {
				continue
			}
			s.seen[cand] = struct{}{}
			for p := range variants(cand) {
				if _, ok := s.patterns[p]; !ok {
					s.patterns[p] = struct{}{}
					changed = true
				}
			}
			for _, p := range truncatedVariants(cand) {
				if _, ok := s.patterns[p]; !ok {
					s.patterns[p] = struct{}{}
					changed = true
				}
			}
		}
	}
	if changed {
		s.m.Store(newMatcher(s.patterns))
	}
}

// maxTruncatedLen is the longest secret whose cut forms truncatedVariants
// registers: the patterns of a secret grow with the square of its length
// (the matcher's trie shares their prefixes, the set of patterns does
// not), and tokens, keys and passwords are shorter.
const maxTruncatedLen = 128

// truncationMarkers end a text cut short: what a JSON decoder's error
// quotes of its input ("..."), and request.Clip's "…".
var truncationMarkers = []string{"...", "…"}

// minTruncatedLen is the shortest cut of a secret truncatedVariants
// registers: a shorter one would blank out ordinary words followed by
// "..." while giving away little.
const minTruncatedLen = 8

// truncatedVariants returns the forms of secret cut short: every prefix of
// at least half of it and minTruncatedLen bytes (a shorter one gives away
// less than half) followed
// by a truncation marker, raw, as the body of a JSON string (HTML-escaped
// and not), as the body of strconv.Quote, and that quoted inside JSON. A
// backend's answer quoted in a decoder's error ("invalid character ... in
// 'not json Bearer s3cr3t-tok...'") or a value clipped for a record would
// otherwise carry most of a secret past the whole secret's patterns.
func truncatedVariants(secret string) []string {
	if len(secret) > maxTruncatedLen {
		return nil
	}
	var out []string
	for n := max(minTruncatedLen, (len(secret)+1)/2); n < len(secret); n++ {
		if !utf8.RuneStart(secret[n]) {
			continue // a cut inside a character: decoders and Clip cut between them
		}
		for _, marker := range truncationMarkers {
			cut := secret[:n] + marker
			quoted := unquote(strconv.Quote(cut))
			out = append(out, cut, jsonBody(cut, true), jsonBody(cut, false), quoted, jsonBody(quoted, false))
		}
	}
	return out
}

// maxSecretLen is the longest secret whose every encoding is redacted; see
// Secrets.Add for longer ones.
const maxSecretLen = 4096

// addLong registers a value longer than maxSecretLen line by line, each
// line (up to its first maxSecretLen bytes) in its raw, JSON and Go-quoted
// forms only: the matcher's memory grows with the total length of all
// patterns, and a certificate bundle read with file() would otherwise
// cost gigabytes. It reports whether a new pattern was added.
func (s *Secrets) addLong(v string) bool {
	changed := false
	for _, line := range strings.Split(v, "\n") {
		line = strings.TrimSpace(line)
		if len(line) < minSecretLen {
			continue
		}
		if len(line) > maxSecretLen {
			line = line[:maxSecretLen]
		}
		if _, ok := s.seen[line]; ok {
			continue
		}
		s.seen[line] = struct{}{}
		// raw, JSON body (HTML-escaped and not), Go-quoted body
		for _, p := range []string{line, jsonBody(line, true), jsonBody(line, false), unquote(strconv.Quote(line))} {
			if _, ok := s.patterns[p]; !ok {
				s.patterns[p] = struct{}{}
				changed = true
			}
		}
	}
	return changed
}

// Redact returns b with every occurrence of every encoding of every secret
// replaced by "[REDACTED]". b is never modified; when nothing matches, b
// itself is returned (no allocation). The longest match wins at each
// position, and where matches overlap or one secret contains another the
// union of the matched ranges is replaced, so no fragment of a secret
// survives. A replaced range never starts or ends inside a backslash escape
// sequence, so redacted JSON stays valid. Safe for concurrent use.
func (s *Secrets) Redact(b []byte) []byte {
	if s == nil {
		return b
	}
	m := s.m.Load()
	if m == nil {
		return b
	}
	return m.redact(b)
}

// RedactString is Redact for strings.
func (s *Secrets) RedactString(v string) string {
	if s == nil || s.m.Load() == nil || v == "" {
		return v
	}
	b := []byte(v)
	out := s.Redact(b)
	if &out[0] == &b[0] && len(out) == len(b) {
		return v
	}
	return string(out)
}

// ---------------------------------------------------------------------------
// Encodings

// encoder renders a string the way one layer of the logging stack embeds it
// in output (without surrounding quotes).
type encoder func(string) string

var baseEncoders = []encoder{
	func(s string) string { return s },
	func(s string) string { return jsonBody(s, true) },
	func(s string) string { return jsonBody(s, false) },
	func(s string) string { return asciiJSON(jsonBody(s, true), false) },
	func(s string) string { return asciiJSON(jsonBody(s, false), false) },
	func(s string) string { return asciiJSON(jsonBody(s, true), true) },
	func(s string) string { return asciiJSON(jsonBody(s, false), true) },
	func(s string) string { return unquote(strconv.Quote(s)) },
	func(s string) string { return unquote(strconv.QuoteToASCII(s)) },
	func(s string) string { return hclogEscape(s, true) },
	func(s string) string { return hclogEscape(s, false) },
	hclogMultiline,
	url.QueryEscape,
	url.PathEscape,
	func(s string) string { return lowerPercent(url.QueryEscape(s)) },
	func(s string) string { return lowerPercent(url.PathEscape(s)) },
	func(s string) string { return percentAll(s, "0123456789ABCDEF") },
	func(s string) string { return percentAll(s, "0123456789abcdef") },
}

// variants returns all encodings of secret up to a nesting depth of two,
// and the base64 forms of the raw secret and of its one-layer encodings.
func variants(secret string) map[string]struct{} {
	out := make(map[string]struct{})
	for _, inner := range baseEncoders {
		once := inner(secret)
		for _, outer := range baseEncoders {
			if v := outer(once); len(v) >= minSecretLen {
				out[v] = struct{}{}
			}
		}
		for _, v := range base64Forms(once) {
			out[v] = struct{}{}
		}
	}
	return out
}

// minBase64Core is the shortest base64 fragment registered for a secret
// found inside a longer base64 text: shorter fragments would match
// ordinary base64 data by chance.
const minBase64Core = 8

// base64Forms returns s in base64 (standard and URL alphabets, padded and
// raw) and, for each of the three byte alignments s can have inside a
// longer encoded text, the characters that depend on s's bytes alone.
func base64Forms(s string) []string {
	var out []string
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if full := enc.EncodeToString([]byte(s)); len(full) >= minSecretLen {
			out = append(out, full)
		}
		if enc == base64.StdEncoding || enc == base64.URLEncoding {
			continue // the cores of the raw encodings are the same
		}
		// Inside a longer text, s starting at byte offset k (mod 3) shares
		// its first quantum with its neighbour unless k == 0; the
		// characters of the complete quanta from s[skip] are s's alone.
		for _, skip := range []int{0, 2, 1} { // k = 0, 1, 2
			whole := (len(s) - skip) / 3 * 3
			if whole <= 0 {
				continue
			}
			if core := enc.EncodeToString([]byte(s[skip : skip+whole])); len(core) >= minBase64Core {
				out = append(out, core)
			}
		}
	}
	return out
}

// lowerPercent rewrites the hex digits of %XX escapes in lower case.
func lowerPercent(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1], b[i+2] = toLowerHex(b[i+1]), toLowerHex(b[i+2])
			i += 2
		}
	}
	return string(b)
}

func toLowerHex(c byte) byte {
	if 'A' <= c && c <= 'F' {
		return c + 'a' - 'A'
	}
	return c
}

// percentAll percent-encodes every byte of s with the given hex digits.
func percentAll(s, digits string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte('%')
		b.WriteByte(digits[s[i]>>4])
		b.WriteByte(digits[s[i]&0xF])
	}
	return b.String()
}

func unquote(q string) string { return q[1 : len(q)-1] }

// jsonBody is s encoded by encoding/json (as hclog's JSON format does),
// without the surrounding quotes.
func jsonBody(s string, escapeHTML bool) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	_ = enc.Encode(s) // encoding a string cannot fail
	return unquote(strings.TrimSuffix(buf.String(), "\n"))
}

// asciiJSON rewrites a JSON string body so that it is pure ASCII: every
// non-ASCII rune becomes \uXXXX (a surrogate pair above U+FFFF). Existing
// \u escapes are normalised to the chosen hex case.
func asciiJSON(body string, upper bool) string {
	digits := "0123456789abcdef"
	if upper {
		digits = "0123456789ABCDEF"
	}
	u := func(b *strings.Builder, r rune) {
		b.WriteString(`\u`)
		for sh := 12; sh >= 0; sh -= 4 {
			b.WriteByte(digits[r>>uint(sh)&0xF])
		}
	}
	var b strings.Builder
	for i := 0; i < len(body); {
		c := body[i]
		switch {
		case c == '\\' && i+5 < len(body) && body[i+1] == 'u':
			r, err := strconv.ParseUint(body[i+2:i+6], 16, 16)
			if err != nil {
				b.WriteString(body[i : i+6])
			} else {
				u(&b, rune(r))
			}
			i += 6
		case c == '\\' && i+1 < len(body):
			b.WriteString(body[i : i+2])
			i += 2
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(body[i:])
			if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
				u(&b, r1)
				u(&b, r2)
			} else {
				u(&b, r)
			}
			i += size
		}
	}
	return b.String()
}

// hclogEscape mirrors go-hclog's writeEscapedForOutput (text format), which
// is applied rune by rune to values that contain a quote or a non-printable
// rune. Unlike strconv.Quote it leaves backslashes alone.
func hclogEscape(s string, escapeQuotes bool) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	for _, r := range s {
		if escapeQuotes && r == '"' {
			b.WriteString(`\"`)
			continue
		}
		if unicode.IsPrint(r) {
			b.WriteRune(r)
			continue
		}
		switch r {
		case '\a':
			b.WriteString(`\a`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\v':
			b.WriteString(`\v`)
		default:
			switch {
			case r < ' ':
				b.WriteString(`\x`)
				b.WriteByte(hex[byte(r)>>4])
				b.WriteByte(hex[byte(r)&0xF])
			case r < 0x10000:
				b.WriteString(`\u`)
				for sh := 12; sh >= 0; sh -= 4 {
					b.WriteByte(hex[r>>uint(sh)&0xF])
				}
			default:
				b.WriteString(`\U`)
				for sh := 28; sh >= 0; sh -= 4 {
					b.WriteByte(hex[r>>uint(sh)&0xF])
				}
			}
		}
	}
	return b.String()
}

// hclogMultiline mirrors hclog's text rendering of a field value containing
// newlines: each line is escaped (quotes left alone) and continuation lines
// are prefixed with "  | ".
func hclogMultiline(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = hclogEscape(l, false)
	}
	return strings.Join(lines, "\n  | ")
}

// ---------------------------------------------------------------------------
// Matcher: a byte trie over all patterns. At each position it finds the
// longest pattern (so longer patterns win over patterns they contain), and
// it extends a match over any pattern overlapping it, replacing the union.
// Unlike strings.Replacer this never leaves the tail of an overlapping
// secret behind, and it needs no []byte<->string copies when nothing
// matches.

type trieNode struct {
	term   bool
	labels []byte
	kids   []int32
}

type matcher struct {
	root  [256]int32 // first byte -> node index; 0 means none
	nodes []trieNode // nodes[0] is an unused sentinel
}

func newMatcher(patterns map[string]struct{}) *matcher {
	m := &matcher{nodes: make([]trieNode, 1, 64)}
	for p := range patterns {
		if p == "" {
			continue
		}
		n := m.root[p[0]]
		if n == 0 {
			n = m.newNode()
			m.root[p[0]] = n
		}
		for i := 1; i < len(p); i++ {
			c := m.child(n, p[i])
			if c == 0 {
				c = m.newNode()
				m.nodes[n].labels = append(m.nodes[n].labels, p[i])
				m.nodes[n].kids = append(m.nodes[n].kids, c)
			}
			n = c
		}
		m.nodes[n].term = true
	}
	return m
}

func (m *matcher) newNode() int32 {
	m.nodes = append(m.nodes, trieNode{})
	return int32(len(m.nodes) - 1)
}

func (m *matcher) child(n int32, c byte) int32 {
	nd := &m.nodes[n]
	for i, l := range nd.labels {
		if l == c {
			return nd.kids[i]
		}
	}
	return 0
}

// longestAt returns the length of the longest pattern starting at b[i].
func (m *matcher) longestAt(b []byte, i int) int {
	n := m.root[b[i]]
	best := 0
	for j := i; n != 0; {
		if m.nodes[n].term {
			best = j - i + 1
		}
		j++
		if j >= len(b) {
			break
		}
		n = m.child(n, b[j])
	}
	return best
}

func (m *matcher) redact(b []byte) []byte {
	var out []byte
	last := 0
	for i := 0; i < len(b); {
		if m.root[b[i]] == 0 {
			i++
			continue
		}
		l := m.longestAt(b, i)
		if l == 0 {
			i++
			continue
		}
		// Grow [i, end) over every overlapping match and over any escape
		// sequence cut by its end, until stable.
		end := i + l
		for j := i + 1; ; {
			for ; j < end; j++ {
				if m.root[b[j]] != 0 {
					if e := j + m.longestAt(b, j); e > end {
						end = e
					}
				}
			}
			if e := escapeEnd(b, end); e > end {
				end = e
				continue
			}
			break
		}
		start := max(escapeStart(b, i), last)
		if out == nil {
			out = make([]byte, 0, len(b)+len(redactedMarker))
		}
		out = append(out, b[last:start]...)
		out = append(out, redactedMarker...)
		i, last = end, end
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}

// The helpers below keep JSON output valid: a match must not start or end
// inside a backslash escape sequence (\n, \", \u00e9, ...), otherwise the
// replacement would leave a dangling backslash or unescape a quote. They
// are harmless for text output (at most a few more bytes are redacted).

// introducer reports whether b[k] is a backslash that starts an escape
// sequence, i.e. it is preceded by an even number of backslashes.
func introducer(b []byte, k int) bool {
	if b[k] != '\\' {
		return false
	}
	n := 0
	for j := k - 1; j >= 0 && b[j] == '\\'; j-- {
		n++
	}
	return n%2 == 0
}

// isJSONEscapeChar reports whether c may follow a backslash in a JSON
// string. Only such sequences are treated as escapes, so that a trailing
// backslash in text output never swallows the line's newline.
func isJSONEscapeChar(c byte) bool {
	switch c {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't', 'u':
		return true
	}
	return false
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// escapeStart moves a match start at i back to the backslash of an escape
// sequence that i falls inside.
func escapeStart(b []byte, i int) int {
	for k := 1; k <= 5 && i-k >= 0; k++ {
		p := i - k
		if !introducer(b, p) {
			continue
		}
		if k == 1 && isJSONEscapeChar(b[i]) || k > 1 && b[p+1] == 'u' && isHex(b[p+2:i]) {
			return p
		}
	}
	return i
}

// escapeEnd moves a match end forward past the rest of an escape sequence
// that the match [.., end) cuts.
func escapeEnd(b []byte, end int) int {
	for k := 1; k <= 5 && end-k >= 0; k++ {
		p := end - k
		if !introducer(b, p) {
			continue
		}
		switch {
		case k == 1 && end < len(b) && b[end] == 'u':
			return min(end+5, len(b))
		case k == 1 && end < len(b) && isJSONEscapeChar(b[end]):
			return end + 1
		case k > 1 && b[p+1] == 'u' && isHex(b[p+2:end]):
			return min(p+6, len(b))
		}
	}
	return end
}
