package revision

import (
	"encoding/json"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestForBackendStripsStatelessKeys(t *testing.T) {
	meta := mcp.Meta{
		mcp.MetaKeyProtocolVersion:    "2026-07-28",
		mcp.MetaKeyClientInfo:         map[string]any{"name": "c"},
		mcp.MetaKeyClientCapabilities: map[string]any{"sampling": map[string]any{}},
		mcp.MetaKeyLogLevel:           "debug",
		"traceparent":                 "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"progressToken":               "p1",
	}
	got := ForBackend(meta, "2025-11-25")
	for _, k := range []string{mcp.MetaKeyProtocolVersion, mcp.MetaKeyClientInfo, mcp.MetaKeyLogLevel} {
		if _, ok := got[k]; ok {
			t.Errorf("%s forwarded to a 2025-11-25 backend", k)
		}
	}
	for _, k := range []string{mcp.MetaKeyClientCapabilities, "traceparent", "progressToken"} {
		if _, ok := got[k]; !ok {
			t.Errorf("%s not forwarded", k)
		}
	}
	if _, ok := meta[mcp.MetaKeyProtocolVersion]; !ok {
		t.Error("ForBackend modified the client's _meta")
	}
	if got := ForBackend(meta, Stateless); len(got) != len(meta) {
		t.Errorf("stateless backend: %v, want the _meta unchanged", got)
	}
	if got := ForBackend(mcp.Meta{mcp.MetaKeyProtocolVersion: "2026-07-28"}, "2025-06-18"); got != nil {
		t.Errorf("nothing left: %v, want nil", got)
	}
}

func TestDeclaresAndMissingCapability(t *testing.T) {
	// As ServerRequest.ClientCapabilities returns a 2026-07-28 client's
	// {"elicitation":{},"roots":{}}.
	caps := &mcp.ClientCapabilities{Elicitation: &mcp.ElicitationCapabilities{}, RootsV2: &mcp.RootCapabilities{}}
	for method, want := range map[string]bool{"sampling/createMessage": false, "elicitation/create": true, "roots/list": true} {
		if got := Declares(caps, method); got != want {
			t.Errorf("Declares(%s) = %v, want %v", method, got, want)
		}
	}
	if Declares(&mcp.ClientCapabilities{}, "roots/list") {
		t.Error("empty capabilities declare roots")
	}
	e := MissingCapability("sampling/createMessage", "roots/list")
	var data struct {
		RequiredCapabilities map[string]any `json:"requiredCapabilities"`
	}
	if err := json.Unmarshal(e.Data, &data); err != nil || e.Code != -32021 ||
		data.RequiredCapabilities["sampling"] == nil || data.RequiredCapabilities["roots"] == nil {
		t.Errorf("MissingCapability = %d %s (%v)", e.Code, e.Data, err)
	}
}

func TestWithLogLevel(t *testing.T) {
	meta := mcp.Meta{"traceparent": "t"}
	got := WithLogLevel(meta, Stateless, "debug")
	if got[mcp.MetaKeyLogLevel] != mcp.LoggingLevel("debug") || got["traceparent"] != "t" {
		t.Errorf("stateless backend: %v, want the client's level added", got)
	}
	if _, ok := meta[mcp.MetaKeyLogLevel]; ok {
		t.Error("WithLogLevel modified the client's _meta")
	}
	if got := WithLogLevel(nil, Stateless, "info"); got[mcp.MetaKeyLogLevel] != mcp.LoggingLevel("info") {
		t.Errorf("no _meta: %v, want one with the level", got)
	}
	own := mcp.Meta{mcp.MetaKeyLogLevel: "error"}
	if got := WithLogLevel(own, Stateless, "debug"); got[mcp.MetaKeyLogLevel] != "error" {
		t.Errorf("request with its own level: %v, want it kept", got)
	}
	if got := WithLogLevel(meta, "2025-11-25", "debug"); len(got) != 1 {
		t.Errorf("older backend: %v, want meta unchanged", got)
	}
	if got := WithLogLevel(meta, Stateless, ""); len(got) != 1 {
		t.Errorf("no level: %v, want meta unchanged", got)
	}
}
