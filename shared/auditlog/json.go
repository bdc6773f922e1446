package auditlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxDepth bounds the nesting of a record, as encoding/json bounds
// Unmarshal: a hostile line must not exhaust the stack.
const maxDepth = 1000

// decode decodes one JSON value exactly as encoding/json does into an
// interface with Decoder.UseNumber (objects as map[string]any, numbers as
// json.Number with their literal text, strings unescaped with invalid UTF-8
// replaced by U+FFFD), except that it rejects duplicate object keys, which
// would let two readers of the same line see different records.
//
// It is a small parser over input that json.Valid has accepted, several
// times faster than json.Decoder.Token; strings with escapes or invalid
// UTF-8 are unquoted by encoding/json itself.
func decode(data []byte) (any, error) {
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v) // for its error message
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return nil, err
	}
	p := parser{data: data}
	return p.value(0)
}

type parser struct {
	data []byte
	pos  int
}

func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", maxDepth)
	}
	p.skipSpace()
	switch c := p.data[p.pos]; {
	case c == '{':
		p.pos++
		m := make(map[string]any)
		for {
			p.skipSpace()
			if p.data[p.pos] == '}' {
				p.pos++
				return m, nil
			}
			if p.data[p.pos] == ',' {
				p.pos++
				p.skipSpace()
			}
			key, err := p.string()
			if err != nil {
				return nil, err
			}
			if _, dup := m[key]; dup {
				return nil, fmt.Errorf("duplicate key %q", key)
			}
			p.skipSpace()
			p.pos++ // ':'
			if m[key], err = p.value(depth + 1); err != nil {
				return nil, err
			}
		}
	case c == '[':
		p.pos++
		l := []any{}
		for {
			p.skipSpace()
			if p.data[p.pos] == ']' {
				p.pos++
				return l, nil
			}
			if p.data[p.pos] == ',' {
				p.pos++
			}
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
	case c == '"':
		return p.string()
	case c == 't':
		p.pos += len("true")
		return true, nil
	case c == 'f':
		p.pos += len("false")
		return false, nil
	case c == 'n':
		p.pos += len("null")
		return nil, nil
	default: // a number
		start := p.pos
		for p.pos < len(p.data) && bytes.IndexByte([]byte("+-.0123456789eE"), p.data[p.pos]) >= 0 {
			p.pos++
		}
		return json.Number(p.data[start:p.pos]), nil
	}
}

// string reads a string at p.pos (its opening quote).
func (p *parser) string() (string, error) {
	start := p.pos
	escaped := false
	i := start + 1
	for ; p.data[i] != '"'; i++ {
		if p.data[i] == '\\' {
			escaped = true
			i++ // the escaped character cannot be the closing quote
		}
	}
	p.pos = i + 1
	raw := p.data[start+1 : i]
	if !escaped && utf8.Valid(raw) {
		return string(raw), nil
	}
	var s string
	err := json.Unmarshal(p.data[start:p.pos], &s)
	return s, err
}

// encode is the canonical encoding of a decoded value: what
// encoding/json's Encoder with SetEscapeHTML(false) writes, without the
// trailing newline (TestEncodeMatchesEncodingJSON holds the two together),
// written out for speed: reflection over maps was most of Seal's time.
func encode(v any) ([]byte, error) {
	return appendValue(make([]byte, 0, 512), v)
}

func appendValue(dst []byte, v any) ([]byte, error) {
	var err error
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case string:
		return appendString(dst, v), nil
	case json.Number:
		if !json.Valid([]byte(v)) || strings.ContainsAny(string(v), "{}[]\"tfn ") {
			return nil, fmt.Errorf("invalid number literal %q", string(v))
		}
		return append(dst, v...), nil
	case []any:
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = appendValue(dst, e); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	case map[string]any:
		keys := slices.Sorted(maps.Keys(v))
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k)
			dst = append(dst, ':')
			if dst, err = appendValue(dst, v[k]); err != nil {
				return nil, err
			}
		}
		return append(dst, '}'), nil
	}
	return nil, fmt.Errorf("cannot encode %T", v)
}

const hexDigits = "0123456789abcdef"

// appendString quotes s as encoding/json does without HTML escaping.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = AppendEscapedByte(dst, b)
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendEscapedByte appends the escape encoding/json (and so the
// canonical form) writes for an ASCII
// byte that cannot stand in a string as is: a quote, a backslash or a
// control character.
func AppendEscapedByte(dst []byte, b byte) []byte {
	switch b {
	case '\\', '"':
		return append(dst, '\\', b)
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
}

// decodeObject decodes a JSON object.
func decodeObject(data []byte) (map[string]any, error) {
	v, err := decode(data)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("not a JSON object")
	}
	return m, nil
}
