package audit

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// appendEvent appends e's JSON to dst without reflection: the bytes
// encoding/json.Marshal(e) gives (same field order, HTML-safe escaping,
// invalid UTF-8 as U+FFFD, floats formatted alike, metadata keys sorted),
// at a fraction of the cost per call. Metadata values other than the
// scalars FromCall puts there go through encoding/json; ok is false if one
// cannot be encoded.
func appendEvent(dst []byte, e *Event) (_ []byte, ok bool) {
	dst = append(dst, `{"timestamp":`...)
	dst = appendJSONString(dst, e.Timestamp)
	dst = append(dst, `,"event_type":`...)
	dst = appendJSONString(dst, e.EventType)
	dst = append(dst, `,"event_id":`...)
	dst = appendJSONString(dst, e.EventID)
	dst = append(dst, `,"source":{"session_id":`...)
	dst = appendStringPtr(dst, e.Source.SessionID)
	dst = append(dst, `,"client_ip":`...)
	dst = appendStringPtr(dst, e.Source.ClientIP)
	dst = append(dst, `,"user_id":`...)
	dst = appendStringPtr(dst, e.Source.UserID)
	dst = append(dst, `},"target":{"backend":`...)
	dst = appendStringPtr(dst, e.Target.Backend)
	dst = append(dst, `,"method":`...)
	dst = appendJSONString(dst, e.Target.Method)
	dst = append(dst, `,"capability_name":`...)
	dst = appendJSONString(dst, e.Target.CapabilityName)
	dst = append(dst, `,"original_name":`...)
	dst = appendStringPtr(dst, e.Target.OriginalName)
	dst = append(dst, `},"outcome":{"status":`...)
	dst = appendJSONString(dst, e.Outcome.Status)
	dst = append(dst, `,"latency_ms":`...)
	if dst, ok = appendJSONFloat(dst, e.Outcome.LatencyMS); !ok {
		return dst, false
	}
	dst = append(dst, `,"error":`...)
	dst = appendStringPtr(dst, e.Outcome.Error)
	dst = append(dst, `,"error_type":`...)
	dst = appendStringPtr(dst, e.Outcome.ErrorType)
	dst = append(dst, `},"metadata":`...)
	if e.Metadata == nil {
		return append(dst, "null}"...), true
	}
	dst = append(dst, '{')
	keys := make([]string, 0, 8)
	for k := range e.Metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		if dst, ok = appendJSONValue(dst, e.Metadata[k]); !ok {
			return dst, false
		}
	}
	return append(dst, "}}"...), true
}

func appendStringPtr(dst []byte, s *string) []byte {
	if s == nil {
		return append(dst, "null"...)
	}
	return appendJSONString(dst, *s)
}

// appendJSONValue encodes the scalar types metadata holds directly and
// anything else with encoding/json.
func appendJSONValue(dst []byte, v any) ([]byte, bool) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), true
	case string:
		return appendJSONString(dst, v), true
	case bool:
		return strconv.AppendBool(dst, v), true
	case int:
		return strconv.AppendInt(dst, int64(v), 10), true
	case int64:
		return strconv.AppendInt(dst, v, 10), true
	case float64:
		return appendJSONFloat(dst, v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return dst, false
	}
	return append(dst, b...), true
}

// appendJSONFloat formats f as encoding/json does for a float64 (ES6
// number formatting); NaN and infinities cannot be encoded.
func appendJSONFloat(dst []byte, f float64) ([]byte, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, false
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(dst) - start
		if n >= 4 && dst[len(dst)-4] == 'e' && dst[len(dst)-3] == '-' && dst[len(dst)-2] == '0' {
			dst[len(dst)-2] = dst[len(dst)-1]
			dst = dst[:len(dst)-1]
		}
	}
	return dst, true
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as encoding/json does with HTML escaping on
// (its default): <, > and & as \u003c, \u003e, \u0026; U+2028 and U+2029
// escaped; invalid UTF-8 as \ufffd.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
