// Package revision shapes what Argus answers a client for the MCP protocol
// revision that client negotiated, whatever revision the backend that
// produced the answer speaks.
//
// Argus talks to most backends over sessions of an older revision
// (config.DefaultBackendProtocol) and to clients of every revision the SDK
// supports. The fields each revision requires or forbids differ:
//
//   - 2026-07-28 (stateless) results carry resultType ("complete" or
//     "input_required") on tools/call, prompts/get, resources/read and
//     completion/complete; list results and resources/read carry
//     cacheScope ("public" or "private") and ttlMs (SEP-2549); and the
//     answering server names itself in _meta (SEP-2575) — that server is
//     Argus, not the backend behind it.
//   - Older revisions know none of these fields; they are removed.
//
// Shaper applies those rules on the router's return path. It never changes
// the content of a result, only the revision-specific envelope.
package revision

import (
	"bytes"
	"encoding/json"
	"maps"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/request"
)

// Stateless is the first revision without sessions, with resultType,
// caching hints and multi-round-trip requests.
const Stateless = "2026-07-28"

// IsStateless reports whether version is Stateless or newer. Revisions are
// dates, so they order as strings.
func IsStateless(version string) bool { return version >= Stateless }

// OneRequest reports whether ss is the session the SDK makes for one
// request of a Stateless client (no id, that revision's state), which
// ends with that request.
func OneRequest(ss *mcp.ServerSession) bool {
	ip := ss.InitializeParams()
	return ss.ID() == "" && ip != nil && IsStateless(ip.ProtocolVersion)
}

// Cache scopes (SEP-2549).
const (
	ScopePublic  = "public"
	ScopePrivate = "private"
)

// DefaultListTTL is the ttlMs Argus puts on list results: how long a client
// that does not follow list_changed notifications may keep using a list.
//
// Argus's catalogue changes only when a backend signals list_changed, on a
// reload, and on a backend's health transition, and every such change is
// announced to clients at once (notifications/*/list_changed, or the
// subscriptions/listen stream of a stateless client). A client that listens
// is therefore never served a stale list from its cache for longer than the
// notification takes to arrive; one that does not may be up to this long
// behind. Ten seconds keeps that bound well below the default health
// check interval (30 s), so a backend failing a check disappears from
// every cache before the next check could bring it back.
const DefaultListTTL = 10 * time.Second

// Shaper shapes results for the client's revision. The zero value is
// usable: it names no server and uses DefaultListTTL with public lists.
// A Shaper is read-only after construction and safe for concurrent use.
type Shaper struct {
	// Server is Argus's own identity, put into the _meta of results to
	// 2026-07-28 clients in place of whatever the backend put there.
	Server *mcp.Implementation
	// ListTTL is the ttlMs of list results; 0 means DefaultListTTL, a
	// negative value means 0 (always revalidate).
	ListTTL time.Duration
	// Private marks lists as cacheScope "private": set it when clients
	// authenticate, so that no shared cache serves one user's answer to
	// another party. Otherwise lists are "public": the catalogue is the
	// same for every client.
	Private bool
}

// rawMembers holds, per Shaper.Server, the members rawTool writes into a
// passed-through result, encoded once (a gateway has one identity).
var rawMembers sync.Map // *mcp.Implementation → string

// Result returns res shaped for a client of revision version answering
// method. It may return res itself (modified) or a wrapper around it;
// callers must send the returned value and not use res afterwards.
func (s *Shaper) Result(version, method string, res mcp.Result) mcp.Result {
	if request.IsNil(res) {
		return res
	}
	modern := IsStateless(version)
	if r, ok := res.(RawTool); ok {
		if !modern {
			return res
		}
		return s.rawTool(r)
	}
	s.meta(res, modern)
	switch r := res.(type) {
	case *mcp.CallToolResult:
		if modern {
			return callWithType(r, resultTypeOf(len(r.InputRequests) > 0))
		}
		return callWithType(r, "")
	case *mcp.GetPromptResult:
		if modern {
			return promptWithType(r, resultTypeOf(len(r.InputRequests) > 0))
		}
		return promptWithType(r, "")
	case *mcp.ReadResourceResult:
		if !modern {
			return legacyRead{r}
		}
		// The backend knows how long its content stays fresh; without its
		// word, Argus promises nothing and keeps the content to the caller,
		// as the backend's answer may depend on who asked. Behind
		// authentication nothing is public, whatever the backend says: a
		// backend that cannot see who asked would otherwise let a shared
		// cache hand an authenticated user's answer to anyone.
		if r.CacheScope == "" || s.Private {
			r.CacheScope = ScopePrivate
		}
		if r.TTLMs < 0 {
			r.TTLMs = 0
		}
		return readWithType(r, resultTypeOf(len(r.InputRequests) > 0))
	case *mcp.CompleteResult:
		if modern {
			r.ResultType = "complete"
		} else {
			r.ResultType = ""
		}
	case *mcp.ListToolsResult:
		if !modern {
			return legacyTools{r}
		}
		r.ResultType = "complete"
		s.cache(&r.Cacheable)
	case *mcp.ListPromptsResult:
		if !modern {
			return legacyPrompts{r}
		}
		r.ResultType = "complete"
		s.cache(&r.Cacheable)
	case *mcp.ListResourcesResult:
		if !modern {
			return legacyResources{r}
		}
		r.ResultType = "complete"
		s.cache(&r.Cacheable)
	case *mcp.ListResourceTemplatesResult:
		if !modern {
			return legacyTemplates{r}
		}
		r.ResultType = "complete"
		s.cache(&r.Cacheable)
	}
	return res
}

// RawTool is a tools/call result passed on as the backend wrote it
// (backend.RawToolResult): a JSON object of content, structuredContent
// and isError false, with no _meta and no resultType.
type RawTool interface {
	mcp.Result
	RawJSON() json.RawMessage
	// WithRaw is the same result with raw as its JSON.
	WithRaw(raw json.RawMessage) mcp.Result
}

// rawTool shapes a RawTool for a client of the stateless revision as
// Result shapes a decoded one: resultType complete, and Argus's identity
// in _meta, written into the backend's object rather than by decoding and
// encoding it again.
func (s *Shaper) rawTool(r RawTool) mcp.Result {
	raw := bytes.TrimRight(r.RawJSON(), " \t\r\n")
	if len(raw) < 2 || raw[len(raw)-1] != '}' {
		return r // not an object: nothing passed on is (backend.passThrough)
	}
	members := `"resultType":"complete"`
	if s.Server != nil {
		if v, ok := rawMembers.Load(s.Server); ok {
			members = v.(string)
		} else {
			info, err := json.Marshal(s.Server)
			if err != nil {
				return r
			}
			members += `,"_meta":{"` + mcp.MetaKeyServerInfo + `":` + string(info) + `}`
			rawMembers.Store(s.Server, members)
		}
	}
	body := bytes.TrimRight(raw[:len(raw)-1], " \t\r\n")
	out := make([]byte, 0, len(raw)+len(members)+1)
	out = append(out, body...)
	if body[len(body)-1] != '{' {
		out = append(out, ',')
	}
	out = append(out, members...)
	return r.WithRaw(append(out, '}'))
}

// Error returns err (the JSON-RPC error of a routed request) shaped for a
// client of revision version: a Stateless client gets invalid params
// (-32602) where older revisions used resource not found (-32002), as
// SEP-2164 has it; the message and data are kept. Other errors, and every
// error to an older client, are returned as they are.
func Error(version string, err error) error {
	w, ok := err.(*jsonrpc.Error)
	if !ok || w == nil || !IsStateless(version) || w.Code != codeResourceNotFound {
		return err
	}
	out := *w
	out.Code = jsonrpc.CodeInvalidParams
	return &out
}

// codeResourceNotFound is the resource-not-found code of revisions before
// Stateless.
const codeResourceNotFound = -32002

// meta puts Argus's identity into a modern result's _meta, replacing the
// backend's, and removes any server identity from an older one's.
func (s *Shaper) meta(res mcp.Result, modern bool) {
	m := res.GetMeta()
	_, has := m[mcp.MetaKeyServerInfo]
	switch {
	case modern && s.Server != nil:
		m = maps.Clone(m)
		if m == nil {
			m = map[string]any{}
		}
		m[mcp.MetaKeyServerInfo] = s.Server
		res.SetMeta(m)
	case has:
		m = maps.Clone(m)
		delete(m, mcp.MetaKeyServerInfo)
		if len(m) == 0 {
			m = nil
		}
		res.SetMeta(m)
	}
}

func (s *Shaper) cache(c *mcp.Cacheable) {
	ttl := s.ListTTL
	switch {
	case ttl == 0:
		ttl = DefaultListTTL
	case ttl < 0:
		ttl = 0
	}
	c.TTLMs = int(ttl.Milliseconds())
	c.CacheScope = ScopePublic
	if s.Private {
		c.CacheScope = ScopePrivate
	}
}

func resultTypeOf(inputRequired bool) string {
	if inputRequired {
		return "input_required"
	}
	return "complete"
}

// The SDK keeps the resultType of tools/call, prompts/get and
// resources/read results in an unexported field that only its own JSON
// decoding sets. Templates decoded once per result type carry it; a shaped
// result is a copy of the template with the original's exported fields.
var (
	callTemplates   = templates[mcp.CallToolResult]()
	promptTemplates = templates[mcp.GetPromptResult]()
	readTemplates   = templates[mcp.ReadResourceResult]()
)

func templates[T any]() map[string]T {
	out := map[string]T{}
	for _, rt := range []string{"", "complete", "input_required"} {
		var v T
		doc := `{}`
		if rt != "" {
			doc = `{"resultType":"` + rt + `"}`
		}
		if err := json.Unmarshal([]byte(doc), &v); err != nil {
			panic("revision: decoding a result template: " + err.Error())
		}
		out[rt] = v
	}
	return out
}

func callWithType(r *mcp.CallToolResult, rt string) *mcp.CallToolResult {
	out := callTemplates[rt]
	out.Meta = r.Meta
	out.Content = r.Content
	out.StructuredContent = r.StructuredContent
	out.IsError = r.IsError
	out.InputRequests = r.InputRequests
	out.RequestState = r.RequestState
	if rt == "" {
		out.InputRequests, out.RequestState = nil, ""
	}
	return &out
}

func promptWithType(r *mcp.GetPromptResult, rt string) *mcp.GetPromptResult {
	out := promptTemplates[rt]
	out.Meta = r.Meta
	out.Description = r.Description
	out.Messages = r.Messages
	out.InputRequests = r.InputRequests
	out.RequestState = r.RequestState
	if rt == "" {
		out.InputRequests, out.RequestState = nil, ""
	}
	return &out
}

func readWithType(r *mcp.ReadResourceResult, rt string) *mcp.ReadResourceResult {
	out := readTemplates[rt]
	out.Meta = r.Meta
	out.Cacheable = r.Cacheable
	out.Contents = r.Contents
	out.InputRequests = r.InputRequests
	out.RequestState = r.RequestState
	return &out
}

// Results for clients older than Stateless: the SDK's types always encode
// ttlMs and cacheScope, which those revisions do not have, so these
// wrappers encode the older shape. Embedding keeps them mcp.Results.

type legacyTools struct{ *mcp.ListToolsResult }

func (r legacyTools) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Meta       mcp.Meta    `json:"_meta,omitempty"`
		NextCursor string      `json:"nextCursor,omitempty"`
		Tools      []*mcp.Tool `json:"tools"`
	}{r.Meta, r.NextCursor, r.Tools})
}

type legacyPrompts struct{ *mcp.ListPromptsResult }

func (r legacyPrompts) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Meta       mcp.Meta      `json:"_meta,omitempty"`
		NextCursor string        `json:"nextCursor,omitempty"`
		Prompts    []*mcp.Prompt `json:"prompts"`
	}{r.Meta, r.NextCursor, r.Prompts})
}

type legacyResources struct{ *mcp.ListResourcesResult }

func (r legacyResources) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Meta       mcp.Meta        `json:"_meta,omitempty"`
		NextCursor string          `json:"nextCursor,omitempty"`
		Resources  []*mcp.Resource `json:"resources"`
	}{r.Meta, r.NextCursor, r.Resources})
}

type legacyTemplates struct {
	*mcp.ListResourceTemplatesResult
}

func (r legacyTemplates) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Meta              mcp.Meta                `json:"_meta,omitempty"`
		NextCursor        string                  `json:"nextCursor,omitempty"`
		ResourceTemplates []*mcp.ResourceTemplate `json:"resourceTemplates"`
	}{r.Meta, r.NextCursor, r.ResourceTemplates})
}

type legacyRead struct{ *mcp.ReadResourceResult }

func (r legacyRead) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Meta     mcp.Meta                `json:"_meta,omitempty"`
		Contents []*mcp.ResourceContents `json:"contents"`
	}{r.Meta, r.Contents})
}
