package revision

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

var argus = &mcp.Implementation{Name: "argus", Version: "test"}

func backendMeta() mcp.Meta {
	return mcp.Meta{mcp.MetaKeyServerInfo: map[string]any{"name": "backend"}, "keep": "me"}
}

func wire(t *testing.T, res mcp.Result) map[string]any {
	t.Helper()
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestShapeModern(t *testing.T) {
	s := &Shaper{Server: argus}
	cases := []struct {
		method string
		res    mcp.Result
		want   map[string]any // fields that must have these values
	}{
		{"tools/call", &mcp.CallToolResult{Meta: backendMeta(), Content: []mcp.Content{&mcp.TextContent{Text: "hi"}}},
			map[string]any{"resultType": "complete"}},
		{"tools/call", &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{"a": &mcp.ListRootsParams{}}, RequestState: "s"},
			map[string]any{"resultType": "input_required", "requestState": "s"}},
		{"prompts/get", &mcp.GetPromptResult{Meta: backendMeta(), Messages: []*mcp.PromptMessage{}},
			map[string]any{"resultType": "complete"}},
		{"resources/read", &mcp.ReadResourceResult{Meta: backendMeta(), Contents: []*mcp.ResourceContents{{URI: "x:y", Text: "t"}}},
			map[string]any{"resultType": "complete", "cacheScope": "private", "ttlMs": 0.0}},
		{"resources/read", &mcp.ReadResourceResult{Cacheable: mcp.Cacheable{TTLMs: 500, CacheScope: "public"}},
			map[string]any{"cacheScope": "public", "ttlMs": 500.0}},
		{"completion/complete", &mcp.CompleteResult{}, map[string]any{"resultType": "complete"}},
		{"tools/list", &mcp.ListToolsResult{Tools: []*mcp.Tool{}},
			map[string]any{"resultType": "complete", "cacheScope": "public", "ttlMs": float64(DefaultListTTL.Milliseconds())}},
		{"prompts/list", &mcp.ListPromptsResult{Prompts: []*mcp.Prompt{}}, map[string]any{"cacheScope": "public"}},
		{"resources/list", &mcp.ListResourcesResult{Resources: []*mcp.Resource{}}, map[string]any{"cacheScope": "public"}},
		{"resources/templates/list", &mcp.ListResourceTemplatesResult{ResourceTemplates: []*mcp.ResourceTemplate{}}, map[string]any{"cacheScope": "public"}},
	}
	for _, tc := range cases {
		got := wire(t, s.Result(Stateless, tc.method, tc.res))
		for k, v := range tc.want {
			if !reflect.DeepEqual(got[k], v) {
				t.Errorf("%s: %s = %#v, want %#v (wire %v)", tc.method, k, got[k], v, got)
			}
		}
		meta, _ := got["_meta"].(map[string]any)
		info, _ := meta[mcp.MetaKeyServerInfo].(map[string]any)
		if info["name"] != "argus" {
			t.Errorf("%s: _meta serverInfo = %v, want Argus's", tc.method, meta[mcp.MetaKeyServerInfo])
		}
	}
}

// Behind authentication a backend's public read is passed on as private;
// its ttlMs stays.
func TestShapePrivateReadStaysPrivate(t *testing.T) {
	for _, tc := range []struct {
		private bool
		scope   string
		want    string
	}{
		{false, "public", "public"},
		{false, "private", "private"},
		{false, "", "private"},
		{true, "public", "private"},
		{true, "private", "private"},
		{true, "", "private"},
	} {
		s := &Shaper{Server: argus, Private: tc.private}
		got := wire(t, s.Result(Stateless, "resources/read",
			&mcp.ReadResourceResult{Cacheable: mcp.Cacheable{TTLMs: 500, CacheScope: tc.scope}}))
		if got["cacheScope"] != tc.want || got["ttlMs"] != 500.0 {
			t.Errorf("private=%v backend %q: cacheScope %v ttlMs %v, want %q 500", tc.private, tc.scope, got["cacheScope"], got["ttlMs"], tc.want)
		}
	}
}

func TestShapeKeepsContentAndOtherMeta(t *testing.T) {
	s := &Shaper{Server: argus}
	in := &mcp.CallToolResult{Meta: backendMeta(), Content: []mcp.Content{&mcp.TextContent{Text: "hi"}},
		StructuredContent: map[string]any{"n": 1.0}, IsError: true}
	got := wire(t, s.Result(Stateless, "tools/call", in))
	if got["isError"] != true || got["structuredContent"].(map[string]any)["n"] != 1.0 {
		t.Errorf("content changed: %v", got)
	}
	if c := got["content"].([]any); len(c) != 1 || c[0].(map[string]any)["text"] != "hi" {
		t.Errorf("content changed: %v", got["content"])
	}
	if got["_meta"].(map[string]any)["keep"] != "me" {
		t.Errorf("other _meta keys lost: %v", got["_meta"])
	}
}

// Nothing of 2026-07-28 reaches an older client, whatever the backend sent.
func TestShapeLegacyStripsStatelessFields(t *testing.T) {
	s := &Shaper{Server: argus}
	fromModernBackend := func() *mcp.CallToolResult {
		var r mcp.CallToolResult
		if err := json.Unmarshal([]byte(`{"resultType":"complete","content":[{"type":"text","text":"hi"}],
			"_meta":{"io.modelcontextprotocol/serverInfo":{"name":"backend"}}}`), &r); err != nil {
			t.Fatal(err)
		}
		return &r
	}
	results := map[string]mcp.Result{
		"tools/call":               fromModernBackend(),
		"prompts/get":              &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{}},
		"resources/read":           &mcp.ReadResourceResult{Meta: backendMeta(), Cacheable: mcp.Cacheable{TTLMs: 5, CacheScope: "public"}, Contents: []*mcp.ResourceContents{}},
		"completion/complete":      &mcp.CompleteResult{},
		"tools/list":               &mcp.ListToolsResult{Tools: []*mcp.Tool{{Name: "t"}}},
		"prompts/list":             &mcp.ListPromptsResult{Prompts: []*mcp.Prompt{}},
		"resources/list":           &mcp.ListResourcesResult{Resources: []*mcp.Resource{}},
		"resources/templates/list": &mcp.ListResourceTemplatesResult{ResourceTemplates: []*mcp.ResourceTemplate{}},
	}
	for _, v := range []string{"2025-06-18", "2025-11-25", ""} {
		for method, res := range results {
			b, err := json.Marshal(s.Result(v, method, res))
			if err != nil {
				t.Fatal(err)
			}
			for _, field := range []string{"resultType", "ttlMs", "cacheScope", mcp.MetaKeyServerInfo} {
				if strings.Contains(string(b), `"`+field+`"`) {
					t.Errorf("%s for %q client carries %s: %s", method, v, field, b)
				}
			}
		}
	}
	// The list keeps its items.
	got := wire(t, s.Result("2025-06-18", "tools/list", &mcp.ListToolsResult{Tools: []*mcp.Tool{{Name: "t"}}}))
	if tools := got["tools"].([]any); len(tools) != 1 {
		t.Errorf("tools lost: %v", got)
	}
}

func TestShapeCachePolicy(t *testing.T) {
	for _, tc := range []struct {
		s         Shaper
		ttl       float64
		wantScope string
	}{
		{Shaper{}, float64(DefaultListTTL.Milliseconds()), "public"},
		{Shaper{Private: true}, float64(DefaultListTTL.Milliseconds()), "private"},
		{Shaper{ListTTL: 2 * time.Second}, 2000, "public"},
		{Shaper{ListTTL: -1}, 0, "public"},
	} {
		got := wire(t, tc.s.Result(Stateless, "tools/list", &mcp.ListToolsResult{}))
		if got["ttlMs"] != tc.ttl || got["cacheScope"] != tc.wantScope {
			t.Errorf("%+v: ttlMs %v cacheScope %v, want %v %v", tc.s, got["ttlMs"], got["cacheScope"], tc.ttl, tc.wantScope)
		}
	}
}

// The shaped copies rebuild the SDK's result types field by field; a field
// the SDK adds later must be copied too, or it would silently vanish.
func TestShapeCopiesEveryExportedField(t *testing.T) {
	for typ, copied := range map[reflect.Type][]string{
		reflect.TypeFor[mcp.CallToolResult]():     {"Meta", "Content", "StructuredContent", "IsError", "InputRequests", "RequestState"},
		reflect.TypeFor[mcp.GetPromptResult]():    {"Meta", "Description", "Messages", "InputRequests", "RequestState"},
		reflect.TypeFor[mcp.ReadResourceResult](): {"Meta", "Cacheable", "Contents", "InputRequests", "RequestState"},
	} {
		var exported []string
		for f := range typ.Fields() {
			if f.IsExported() {
				exported = append(exported, f.Name)
			}
		}
		if !reflect.DeepEqual(exported, copied) {
			t.Errorf("%s has exported fields %v; the shaper copies %v", typ, exported, copied)
		}
	}
}

func TestShapeNil(t *testing.T) {
	s := &Shaper{}
	if got := s.Result(Stateless, "tools/call", nil); got != nil {
		t.Errorf("nil result shaped into %v", got)
	}
	var typed *mcp.CallToolResult
	if got := s.Result(Stateless, "tools/call", typed); got != mcp.Result(typed) {
		t.Errorf("typed nil shaped into %v", got)
	}
}

// TestErrorResourceNotFound: a Stateless client gets -32602 for a resource
// that does not exist (SEP-2164), an older client -32002; other errors
// pass unchanged.
func TestErrorResourceNotFound(t *testing.T) {
	notFound := &jsonrpc.Error{Code: -32002, Message: "resource not found", Data: []byte(`{"uri":"x://y"}`)}
	got, _ := Error(Stateless, notFound).(*jsonrpc.Error)
	if got == nil || got.Code != -32602 || got.Message != notFound.Message || string(got.Data) != string(notFound.Data) {
		t.Errorf("stateless client: %+v, want -32602 with the message and data", got)
	}
	if notFound.Code != -32002 {
		t.Error("Error modified its argument")
	}
	if got := Error("2025-11-25", notFound); got != error(notFound) {
		t.Errorf("older client: %v, want the error unchanged", got)
	}
	other := &jsonrpc.Error{Code: -32603, Message: "x"}
	if got := Error(Stateless, other); got != error(other) {
		t.Errorf("other error: %v, want it unchanged", got)
	}
}

// rawTool is a RawTool for tests: the backend's bytes as they came.
type rawTool struct {
	*mcp.CallToolResult
	raw json.RawMessage
}

func (r *rawTool) MarshalJSON() ([]byte, error)           { return r.raw, nil }
func (r *rawTool) RawJSON() json.RawMessage               { return r.raw }
func (r *rawTool) WithRaw(raw json.RawMessage) mcp.Result { return &rawTool{r.CallToolResult, raw} }

// TestShapeRawTool: a tools/call result passed on as the backend wrote it
// gets, for a 2026-07-28 client, the members a decoded one gets
// (resultType, Argus's serverInfo) written into the backend's object,
// valid JSON whatever whitespace the backend left; an older client gets
// the backend's bytes unchanged.
func TestShapeRawTool(t *testing.T) {
	for _, raw := range []string{
		`{"content":[{"type":"text","text":"hi"}]}`,
		`{"content":[{"type":"text","text":"hi"}],"structuredContent":{"a":1}}  ` + "\n",
		"{ \"content\":[{\"type\":\"text\",\"text\":\"}\"}] \t}",
		`{"content":[]}`,
		`{}`,
		`{ }`,
	} {
		r := &rawTool{&mcp.CallToolResult{}, json.RawMessage(raw)}
		if got := (&Shaper{Server: argus}).Result("2025-11-25", "tools/call", r); got != mcp.Result(r) {
			t.Errorf("%q for an older client: changed to %v", raw, got)
		}
		got := (&Shaper{Server: argus}).Result(Stateless, "tools/call", r)
		out := got.(RawTool).RawJSON()
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Errorf("%q shaped: not JSON: %v\n%s", raw, err, out)
			continue
		}
		var want map[string]any
		_ = json.Unmarshal([]byte(raw), &want)
		want["resultType"] = "complete"
		want["_meta"] = map[string]any{mcp.MetaKeyServerInfo: map[string]any{"name": "argus", "version": "test"}}
		if !reflect.DeepEqual(m, want) {
			t.Errorf("%q shaped:\n got %s\nwant %v", raw, out, want)
		}
		if string(r.raw) != raw {
			t.Errorf("the backend's bytes were changed in place: %q", r.raw)
		}
		// No server named: resultType alone.
		out = (&Shaper{}).Result(Stateless, "tools/call", r).(RawTool).RawJSON()
		m = nil
		if err := json.Unmarshal(out, &m); err != nil || m["resultType"] != "complete" || m["_meta"] != nil {
			t.Errorf("%q shaped with no server: %s (%v)", raw, out, err)
		}
	}
}
