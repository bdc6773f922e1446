package revision

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"weak"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ErrHeaderMismatch is wrapped by every error of CheckParamHeaders; the
// transport answers it with HTTP 400 and JSON-RPC error
// mcp.CodeHeaderMismatch (-32020).
var ErrHeaderMismatch = errors.New("header mismatch")

// ParamHeaderPrefix starts the header that mirrors a tool argument whose
// input schema property carries "x-mcp-header" (SEP-2243).
const ParamHeaderPrefix = "Mcp-Param-"

// CheckParamHeaders validates the Mcp-Param-* headers of a 2026-07-28
// tools/call against its arguments, for the tool the call names (SEP-2243).
//
// The SDK's HTTP transport checks Mcp-Method and Mcp-Name itself, and
// Mcp-Param-* for tools registered with its own server; Argus serves tools
// from its catalogue, so the transport calls this with the catalogue's
// tool. Rules, as the SDK applies them: for every property (nested ones
// included) annotated with x-mcp-header, an absent or null argument must
// have no header; a present one must have its header, whose value (after
// "=?base64?…?=" decoding and trimming surrounding whitespace) equals the
// argument's string, boolean or number form. A non-primitive argument
// cannot be mirrored.
func CheckParamHeaders(h http.Header, tool *mcp.Tool, arguments json.RawMessage) error {
	if tool == nil {
		return nil
	}
	bindings := toolBindings(tool)
	if len(bindings) == 0 {
		return nil
	}
	var args map[string]json.RawMessage
	if len(arguments) > 0 {
		if err := json.Unmarshal(arguments, &args); err != nil {
			return nil // the tool call itself will be refused
		}
	}
	for _, b := range bindings {
		name := ParamHeaderPrefix + b.header
		values, present := h[http.CanonicalHeaderKey(name)]
		raw, ok := lookup(args, b.path)
		path := strings.Join(b.path, ".")
		if !ok || string(raw) == "null" {
			if present {
				return fmt.Errorf("%w: unexpected %s header for absent or null parameter %q", ErrHeaderMismatch, name, path)
			}
			continue
		}
		if !present || len(values) == 0 {
			return fmt.Errorf("%w: missing %s header for parameter %q", ErrHeaderMismatch, name, path)
		}
		if len(values) > 1 {
			return fmt.Errorf("%w: %s header given %d times", ErrHeaderMismatch, name, len(values))
		}
		got, ok := decodeHeader(strings.Trim(values[0], " \t"))
		if !ok {
			return fmt.Errorf("%w: %s header is neither printable ASCII nor valid =?base64?…?= encoding", ErrHeaderMismatch, name)
		}
		want, ok := primitive(raw)
		if !ok {
			return fmt.Errorf("%w: %s header present but parameter %q is not a string, number or boolean", ErrHeaderMismatch, name, path)
		}
		if !equalPrimitive(got, want) {
			return fmt.Errorf("%w: %s header value does not match parameter %q", ErrHeaderMismatch, name, path)
		}
	}
	return nil
}

// bindings remembers each catalogued tool's header bindings: finding
// them encodes the tool's whole input schema, which is the same for every
// call of the tool. Keyed weakly, so that it holds on to no tool the
// catalogue let go of; cleared past maxBindings entries, so that the
// entries of tools gone do not pile up.
var bindings struct {
	sync.Mutex
	m map[weak.Pointer[mcp.Tool]][]binding
}

const maxBindings = 4096

// toolBindings is headerBindings of tool's input schema, found once per
// tool (a catalogued tool is not changed once published).
func toolBindings(tool *mcp.Tool) []binding {
	key := weak.Make(tool)
	bindings.Lock()
	b, ok := bindings.m[key]
	bindings.Unlock()
	if ok {
		return b
	}
	b = headerBindings(tool.InputSchema)
	bindings.Lock()
	if bindings.m == nil || len(bindings.m) >= maxBindings {
		bindings.m = map[weak.Pointer[mcp.Tool]][]binding{}
	}
	bindings.m[key] = b
	bindings.Unlock()
	return b
}

type binding struct {
	path   []string
	header string
}

type schemaProp struct {
	Header     json.RawMessage       `json:"x-mcp-header"`
	Properties map[string]schemaProp `json:"properties"`
}

// headerBindings finds the x-mcp-header annotations of an input schema
// (any of the forms the SDK holds: *jsonschema.Schema, a map, raw JSON).
func headerBindings(schema any) []binding {
	b, err := json.Marshal(schema)
	if err != nil || !bytes.Contains(b, []byte(`"x-mcp-header"`)) {
		return nil
	}
	var root schemaProp
	if json.Unmarshal(b, &root) != nil {
		return nil
	}
	var out []binding
	var walk func(props map[string]schemaProp, prefix []string)
	walk = func(props map[string]schemaProp, prefix []string) {
		for name, p := range props {
			path := append(append([]string{}, prefix...), name)
			var header string
			if json.Unmarshal(p.Header, &header) == nil && header != "" {
				out = append(out, binding{path, header})
			}
			walk(p.Properties, path)
		}
	}
	walk(root.Properties, nil)
	return out
}

func lookup(args map[string]json.RawMessage, path []string) (json.RawMessage, bool) {
	cur := args
	for i, p := range path {
		raw, ok := cur[p]
		if !ok {
			return nil, false
		}
		if i == len(path)-1 {
			return raw, true
		}
		cur = nil
		if json.Unmarshal(raw, &cur) != nil {
			return nil, false
		}
	}
	return nil, false
}

// decodeHeader undoes the "=?base64?…?=" wrapping; a plain value must be
// printable ASCII (SEP-2243 requires anything else to be encoded).
func decodeHeader(v string) (string, bool) {
	if inner, ok := strings.CutPrefix(v, "=?base64?"); ok {
		if inner, ok = strings.CutSuffix(inner, "?="); ok {
			d, err := base64.StdEncoding.DecodeString(inner)
			return string(d), err == nil
		}
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return "", false
		}
	}
	return v, true
}

// primitive returns a JSON string, number or boolean as a Go value.
func primitive(raw json.RawMessage) (any, bool) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return nil, false
	}
	switch v.(type) {
	case string, bool, json.Number:
		return v, true
	}
	return nil, false
}

func equalPrimitive(header string, body any) bool {
	switch b := body.(type) {
	case string:
		return header == b
	case bool:
		return header == strconv.FormatBool(b)
	case json.Number:
		hf, err1 := strconv.ParseFloat(header, 64)
		bf, err2 := b.Float64()
		return err1 == nil && err2 == nil && hf == bf
	}
	return false
}
