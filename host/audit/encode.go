package audit

import (
	"encoding/hex"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/trace"

	"github.com/argusmcp/argus/host/request"
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

// appendOperation appends the mcp_operation event of a finished call to
// dst: the bytes FromCall(c, eventID).Marshal() gives once End has added
// the span's ids (when sc is valid) and the JSON-RPC error code (when
// code is not 0), without building the Event, its pointers and its
// metadata map, and without sorting the map's keys (written here in
// their sorted order). It is what End encodes on every audited call,
// before the client has its answer (TestAppendOperationMatchesEvent holds
// the two to the same bytes). ok is false if a value cannot be encoded;
// the caller then falls back to the Event.
func appendOperation(dst []byte, c *request.Call, eventID string, sc trace.SpanContext, code int64) (_ []byte, ok bool) {
	dst = append(dst, `{"timestamp":"`...)
	dst = appendTimestamp(dst, c.Start.Add(c.Duration))
	dst = append(dst, `","event_type":"`+TypeOperation+`","event_id":`...)
	dst = appendJSONString(dst, eventID)
	var cut []string // in the order FromCall lists them
	dst = append(dst, `,"source":{"session_id":`...)
	dst = appendOptional(dst, clip(c.SessionID, maxTextBytes, cutSessionID, &cut))
	dst = append(dst, `,"client_ip":`...)
	dst = appendOptional(dst, clip(c.ClientIP, maxTextBytes, cutClientIP, &cut))
	dst = append(dst, `,"user_id":`...)
	dst = appendOptional(dst, clip(c.UserID, maxTextBytes, cutUserID, &cut))
	dst = append(dst, `},"target":{"backend":`...)
	dst = appendOptional(dst, c.Backend)
	dst = append(dst, `,"method":`...)
	method := targetMethod(c.Method)
	if method == "" {
		method = c.Method
	}
	dst = appendJSONString(dst, method)
	dst = append(dst, `,"capability_name":`...)
	dst = appendJSONString(dst, clip(c.Capability, maxNameBytes, cutCapability, &cut))
	dst = append(dst, `,"original_name":`...)
	dst = appendOptional(dst, clip(c.OriginalName, maxNameBytes, cutOriginalName, &cut))
	dst = append(dst, `},"outcome":{"status":`...)
	if c.Outcome == request.OutcomeSuccess {
		dst = append(dst, `"success","latency_ms":`...)
	} else {
		dst = append(dst, `"error","latency_ms":`...)
	}
	if dst, ok = appendJSONFloat(dst, float64(c.Duration.Microseconds())/1000); !ok {
		return dst, false
	}
	dst = append(dst, `,"error":`...)
	if c.Outcome == request.OutcomeSuccess {
		dst = append(dst, `null,"error_type":null`...)
	} else {
		dst = appendOptional(dst, clip(errorMessage(c), maxErrorBytes, cutError, &cut))
		dst = append(dst, `,"error_type":`...)
		dst = appendOptional(dst, c.Outcome.String())
	}
	// The metadata, its keys in sorted order as encoding/json writes a
	// map's: groups, issuer, jsonrpc_error_code, jsonrpc_id,
	// logical_request_id, policy, protocol_version, request_id, rounds,
	// span_id, trace_id, transport, truncated.
	dst = append(dst, `},"metadata":{`...)
	if len(c.Groups) > 0 {
		dst = append(dst, `"groups":[`...)
		for i, g := range clipGroups(c.Groups, &cut) {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, g)
		}
		dst = append(dst, "],"...)
	}
	if c.Issuer != "" {
		dst = append(dst, `"issuer":`...)
		dst = append(appendJSONString(dst, c.Issuer), ',')
	}
	if code != 0 {
		dst = append(dst, `"jsonrpc_error_code":`...)
		dst = append(strconv.AppendInt(dst, code, 10), ',')
	}
	if id, has := c.RPCID(); has {
		dst = append(dst, `"jsonrpc_id":`...)
		if dst, ok = appendJSONValue(dst, clipID(id, &cut)); !ok {
			return dst, false
		}
		dst = append(dst, ',')
	}
	if c.Rounds > 0 {
		dst = append(dst, `"logical_request_id":`...)
		dst = append(appendJSONString(dst, c.LogicalID), ',')
	}
	if c.Policy != "" {
		dst = append(dst, `"policy":`...)
		dst = append(appendJSONString(dst, c.Policy), ',')
	}
	if c.ProtocolVersion != "" {
		dst = append(dst, `"protocol_version":`...)
		dst = append(appendJSONString(dst, c.ProtocolVersion), ',')
	}
	dst = append(dst, `"request_id":`...)
	dst = appendJSONString(dst, c.ID)
	if c.Rounds > 0 {
		dst = append(dst, `,"rounds":`...)
		dst = strconv.AppendInt(dst, int64(c.Rounds), 10)
	}
	if sc.IsValid() {
		span, trace := sc.SpanID(), sc.TraceID()
		dst = append(dst, `,"span_id":"`...)
		dst = hex.AppendEncode(dst, span[:])
		dst = append(dst, `","trace_id":"`...)
		dst = hex.AppendEncode(dst, trace[:])
		dst = append(dst, '"')
	}
	dst = append(dst, `,"transport":`...)
	dst = appendJSONString(dst, c.Transport)
	if len(cut) > 0 {
		dst = append(dst, `,"truncated":[`...)
		for i, f := range cut {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, f)
		}
		dst = append(dst, ']')
	}
	return append(dst, "}}"...), true
}

// appendOptional appends s as a JSON string, or null if it is empty (an
// Event's *string fields, strPtr).
func appendOptional(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return appendJSONString(dst, s)
}

// appendTimestamp appends t in UTC as timestampLayout has it, without
// parsing the layout each time (time.Time.AppendFormat was a third of
// appendOperation's time in the running gateway's profile); years
// outside 0-9999 take AppendFormat.
func appendTimestamp(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, timestampLayout)
	}
	hour, minute, sec := t.Clock()
	dst = appendDigits(dst, year, 4)
	dst = appendDigits(append(dst, '-'), int(month), 2)
	dst = appendDigits(append(dst, '-'), day, 2)
	dst = appendDigits(append(dst, 'T'), hour, 2)
	dst = appendDigits(append(dst, ':'), minute, 2)
	dst = appendDigits(append(dst, ':'), sec, 2)
	dst = appendDigits(append(dst, '.'), t.Nanosecond()/1000, 6)
	return append(dst, "+00:00"...)
}

// appendDigits appends v (not negative) in exactly width decimal digits.
func appendDigits(dst []byte, v, width int) []byte {
	n := len(dst) + width
	dst = append(dst, make([]byte, width)...)
	for i := n - 1; i >= n-width; i-- {
		dst[i] = byte('0' + v%10)
		v /= 10
	}
	return dst
}
