package policy

import (
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/catalog"
	"github.com/argusmcp/argus/host/config"
)

// TestCatalogLookup: every kind is looked up in the current snapshot of
// the catalogue, under its exposed name; no snapshot finds nothing.
func TestCatalogLookup(t *testing.T) {
	if _, ok := CatalogLookup(func() *catalog.Snapshot { return nil })("tool", "x"); ok {
		t.Fatal("lookup without a snapshot found something")
	}
	cat := catalog.New(catalog.Policy{Strategy: config.StrategyError, Backends: []string{"b"}})
	if _, _, err := cat.Set(&catalog.Inventory{Backend: "b",
		Tools:     []*mcp.Tool{{Name: "t", InputSchema: map[string]any{"type": "object"}}},
		Prompts:   []*mcp.Prompt{{Name: "p"}},
		Resources: []*mcp.Resource{{Name: "r", URI: "file:///r"}},
	}); err != nil {
		t.Fatal(err)
	}
	look := CatalogLookup(cat.Snapshot)
	for _, c := range []struct{ kind, name string }{{"tool", "t"}, {"prompt", "p"}, {"resource", "file:///r"}} {
		if b, ok := look(c.kind, c.name); !ok || b != "b" {
			t.Errorf("lookup(%s %q) = %q, %v; want b, true", c.kind, c.name, b, ok)
		}
	}
	for _, c := range []struct{ kind, name string }{{"tool", "p"}, {"prompt", "nope"}, {"other", "t"}} {
		if b, ok := look(c.kind, c.name); ok {
			t.Errorf("lookup(%s %q) = %q, true; want not found", c.kind, c.name, b)
		}
	}
}
