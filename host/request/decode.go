package request

import (
	"errors"

	segjson "github.com/segmentio/encoding/json"
)

// Decode decodes the JSON value b into v as the MCP SDK does (the same
// library; member names matched case-sensitively), but from the byte
// slice: the SDK's decoder starts every message with a fresh 32 KiB
// buffer, which is what the lean paths of the transport and the router
// avoid.
func Decode(b []byte, v any) error {
	rest, err := segjson.Parse(b, v, segjson.DontMatchCaseInsensitiveStructFields)
	if err == nil && len(skipSpace(rest)) > 0 {
		err = errors.New("unexpected data after the JSON value")
	}
	return err
}

func skipSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}

// MaxDepth is the MCP SDK's limit on the nesting of a message: a message
// nested deeper is refused by the SDK, and so must be by every path that
// reads one without it.
const MaxDepth = 1000

// TooDeep reports whether the JSON value b nests arrays and objects
// deeper than max.
func TooDeep(b []byte, max int) bool {
	depth, inString, escaped := 0, false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > max {
				return true
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return false
}
