package backend

import (
	"bytes"
	"encoding/json"
	"slices"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	segjson "github.com/segmentio/encoding/json"
)

// The requests Conn.Call sends are written here rather than by
// encoding/json: a proxied tools/call encoded its params by reflection
// (the client's _meta, the name, the arguments checked and compacted
// again) and then the JSON-RPC envelope around them (the params checked
// and compacted once more), about 4% of the host's CPU per call at c=1.
// What is written is the JSON value encoding/json would write, in one
// line: strings are escaped as it escapes them, and what is not a plain
// case falls back to it.

// escapeAsMarshal escapes strings as json.Marshal does (HTML characters
// too), so that what is written is what the SDK's client would send.
const escapeAsMarshal = segjson.EscapeHTML

// appendRequest appends the JSON-RPC request id, method, params to b.
// params must be one line of JSON (as toolCallParams and json.Marshal
// write it): stdio frames messages by lines.
func appendRequest(b []byte, id, method string, params json.RawMessage) []byte {
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = segjson.AppendEscape(b, id, escapeAsMarshal)
	b = append(b, `,"method":`...)
	b = segjson.AppendEscape(b, method, escapeAsMarshal)
	if params != nil {
		b = append(b, `,"params":`...)
		b = append(b, params...)
	}
	return append(b, '}')
}

// toolCallParams encodes the params of a tools/call for Call: the value
// json.Marshal(p) writes, with arguments {} when p has none (as the
// SDK's client sends them). The arguments are the client's JSON as the
// router passes them on (json.RawMessage, already checked when the
// client's request was decoded); only line breaks are taken out of them.
// Any other form of arguments, a _meta whose values are not all strings,
// and the fields of the stateless revision (inputResponses,
// requestState) go through encoding/json.
func toolCallParams(p *mcp.CallToolParams) (json.RawMessage, error) {
	args, raw := p.Arguments.(json.RawMessage)
	if !raw && p.Arguments != nil || len(p.InputResponses) > 0 || p.RequestState != "" {
		q := *p
		if q.Arguments == nil {
			q.Arguments = map[string]any{}
		}
		return json.Marshal(&q)
	}
	size := 32 + len(p.Name) + len(args)
	for k, v := range p.Meta {
		switch v := v.(type) {
		case string:
			size += len(v)
		case json.RawMessage:
			size += len(v)
		}
		size += len(k) + 8
	}
	b := make([]byte, 0, size)
	b = append(b, '{')
	if len(p.Meta) > 0 {
		b = append(b, `"_meta":`...)
		var err error
		if b, err = appendMeta(b, p.Meta); err != nil {
			return nil, err
		}
		b = append(b, ',')
	}
	b = append(b, `"name":`...)
	b = segjson.AppendEscape(b, p.Name, escapeAsMarshal)
	b = append(b, `,"arguments":`...)
	switch {
	case len(args) == 0: // none, or an empty json.RawMessage, which no decoder makes
		b = append(b, "{}"...)
	case bytes.ContainsAny(args, "\r\n"):
		// Outside strings, where JSON allows no raw line break: a client's
		// pretty-printed arguments.
		var buf bytes.Buffer
		if err := json.Compact(&buf, args); err != nil {
			return nil, err
		}
		b = append(b, buf.Bytes()...)
	default:
		b = append(b, args...)
	}
	return append(b, '}'), nil
}

// appendMeta appends a _meta object: its keys sorted, as encoding/json
// writes a map, and each value a string (what Argus puts there: a trace
// context) or JSON already encoded on one line (json.RawMessage: a
// stateless client's capabilities, see revision.Declared); any other
// value has encoding/json write the whole object.
func appendMeta(b []byte, meta mcp.Meta) ([]byte, error) {
	keys := make([]string, 0, len(meta))
	for k, v := range meta {
		switch v := v.(type) {
		case string:
		case json.RawMessage:
			if len(v) == 0 || bytes.ContainsAny(v, "\r\n") || !json.Valid(v) {
				return appendMarshalled(b, meta) // which refuses what is no JSON
			}
		default:
			return appendMarshalled(b, meta)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = segjson.AppendEscape(b, k, escapeAsMarshal)
		b = append(b, ':')
		switch v := meta[k].(type) {
		case string:
			b = segjson.AppendEscape(b, v, escapeAsMarshal)
		case json.RawMessage:
			b = append(b, v...)
		}
	}
	return append(b, '}'), nil
}

// appendMarshalled appends meta as encoding/json writes it.
func appendMarshalled(b []byte, meta mcp.Meta) ([]byte, error) {
	m, err := json.Marshal(map[string]any(meta))
	return append(b, m...), err
}
