package catalog

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/config"
)

func inv(backend string, tools ...string) *Inventory {
	i := &Inventory{Backend: backend}
	for _, t := range tools {
		i.Tools = append(i.Tools, &mcp.Tool{Name: t, Description: backend + ":" + t, InputSchema: map[string]any{"type": "object"}})
		i.Prompts = append(i.Prompts, &mcp.Prompt{Name: t})
	}
	return i
}

func names(tools []*mcp.Tool) []string {
	var out []string
	for _, t := range tools {
		out = append(out, t.Name)
	}
	return out
}

func TestStrategies(t *testing.T) {
	invs := map[string]*Inventory{
		"a": inv("a", "search", "only_a"),
		"b": inv("b", "search", "only_b"),
		"c": inv("c", "search"),
	}
	tests := []struct {
		strategy   string
		order      []string
		wantTools  []string
		searchFrom string
		conflicts  int
	}{
		{config.StrategyFirstWins, nil, []string{"search", "only_a", "only_b"}, "a", 2},
		{config.StrategyPrefix, nil, []string{"a_search", "a_only_a", "b_search", "b_only_b", "c_search"}, "", 0},
		{config.StrategyPriority, []string{"c", "b"}, []string{"search", "only_b", "only_a"}, "c", 2},
		{config.StrategyPriority, nil, []string{"search", "only_a", "only_b"}, "a", 2},
	}
	for _, tt := range tests {
		t.Run(tt.strategy+strings.Join(tt.order, ","), func(t *testing.T) {
			p := Policy{Strategy: tt.strategy, Separator: "_", Backends: []string{"a", "b", "c"}, Order: tt.order}
			// Build twice: the result must not depend on map iteration.
			for range 2 {
				s, conflicts, err := Build(p, invs)
				if err != nil {
					t.Fatal(err)
				}
				if got := names(s.Tools()); !slices.Equal(got, tt.wantTools) {
					t.Errorf("tools = %v, want %v", got, tt.wantTools)
				}
				if n := len(conflicts); n != tt.conflicts*2 { // tools and prompts
					t.Errorf("conflicts = %d (%v), want %d", n, conflicts, tt.conflicts*2)
				}
				if tt.searchFrom != "" {
					r, ok := s.Tool("search")
					if !ok || r.Backend != tt.searchFrom || r.Name != "search" {
						t.Errorf("search routes to %+v, want backend %q", r, tt.searchFrom)
					}
				}
			}
		})
	}
}

func TestPrefixRoutesToOriginalName(t *testing.T) {
	p := Policy{Strategy: config.StrategyPrefix, Separator: ".", Backends: []string{"a", "b"}}
	s, _, err := Build(p, map[string]*Inventory{"a": inv("a", "x"), "b": inv("b", "x")})
	if err != nil {
		t.Fatal(err)
	}
	r, ok := s.Tool("b.x")
	if !ok || r != (Route{Backend: "b", Name: "x"}) {
		t.Fatalf("b.x -> %+v %v", r, ok)
	}
	if _, ok := s.Tool("x"); ok {
		t.Error("unprefixed name routable under prefix strategy")
	}
	// The exposed copy is renamed; the backend's own object is untouched.
	if s.Tools()[1].Description != "b:x" {
		t.Errorf("description lost: %+v", s.Tools()[1])
	}
	if pr, ok := s.Prompt("a.x"); !ok || pr.Backend != "a" {
		t.Errorf("prompt a.x -> %+v", pr)
	}
}

func TestErrorStrategyNamesBothBackends(t *testing.T) {
	p := Policy{Strategy: config.StrategyError, Backends: []string{"alpha", "beta"}}
	_, _, err := Build(p, map[string]*Inventory{"alpha": inv("alpha", "search"), "beta": inv("beta", "search")})
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want ConflictError", err)
	}
	msg := err.Error()
	for _, want := range []string{`tool "search"`, `"alpha"`, `"beta"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %s", msg, want)
		}
	}
}

func TestFiltersApplyBeforeConflicts(t *testing.T) {
	// b's "search" is denied, so it cannot conflict with a's under "error".
	p := Policy{
		Strategy: config.StrategyError,
		Backends: []string{"a", "b"},
		Filters: map[string]Filters{
			"b": {Tools: NewFilter(config.Filter{Deny: []string{"sea*"}}), Prompts: NewFilter(config.Filter{Allow: []string{"nothing"}})},
		},
	}
	s, _, err := Build(p, map[string]*Inventory{"a": inv("a", "search"), "b": inv("b", "search", "delete_all", "keep")})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(s.Tools()); !slices.Equal(got, []string{"search", "delete_all", "keep"}) {
		t.Errorf("tools = %v", got)
	}
	if r, _ := s.Tool("search"); r.Backend != "a" {
		t.Errorf("search -> %q", r.Backend)
	}
	if len(s.Prompts()) != 1 {
		t.Errorf("prompts = %d, want only a's", len(s.Prompts()))
	}
}

func TestFilterGlobs(t *testing.T) {
	tests := []struct {
		f    config.Filter
		name string
		want bool
	}{
		{config.Filter{}, "anything", true},
		{config.Filter{Allow: []string{"*"}}, "x", true},
		{config.Filter{Allow: []string{"get_*"}}, "get_user", true},
		{config.Filter{Allow: []string{"get_*"}}, "set_user", false},
		{config.Filter{Deny: []string{"delete_*"}}, "delete_user", false},
		{config.Filter{Allow: []string{"*"}, Deny: []string{"delete_*"}}, "delete_user", false},
		{config.Filter{Allow: []string{"file:///docs/*"}}, "file:///docs/a/b.md", true},
		{config.Filter{Allow: []string{"file:///docs/*"}}, "file:///etc/passwd", false},
		{config.Filter{Allow: []string{"tool?"}}, "tool1", true},
		{config.Filter{Allow: []string{"tool?"}}, "tool12", false},
		{config.Filter{Allow: []string{"v[0-9]"}}, "v7", true},
		{config.Filter{Allow: []string{"v[^0-9]"}}, "v7", false},
		{config.Filter{Allow: []string{"a.b"}}, "axb", false},
		{config.Filter{Allow: []string{`star\*`}}, "star*", true},
		{config.Filter{Allow: []string{`star\*`}}, "starry", false},
	}
	for _, tt := range tests {
		if got := NewFilter(tt.f).Admits(tt.name); got != tt.want {
			t.Errorf("%+v admits %q = %v, want %v", tt.f, tt.name, got, tt.want)
		}
	}
}

func TestResourcesRouteByURIAndTemplate(t *testing.T) {
	a := &Inventory{Backend: "a",
		Resources: []*mcp.Resource{{URI: "demo://a/readme", Name: "readme"}},
		Templates: []*mcp.ResourceTemplate{{URITemplate: "demo://a/items/{id}", Name: "item"}},
	}
	b := &Inventory{Backend: "b",
		Resources: []*mcp.Resource{{URI: "demo://a/readme", Name: "dup"}, {URI: "demo://b/readme", Name: "readme"}},
		Templates: []*mcp.ResourceTemplate{{URITemplate: "files://{+path}", Name: "file"}},
	}
	p := Policy{Strategy: config.StrategyPrefix, Separator: "_", Backends: []string{"a", "b"}}
	s, conflicts, err := Build(p, map[string]*Inventory{"a": a, "b": b})
	if err != nil {
		t.Fatal(err)
	}
	if len(conflicts) != 1 || conflicts[0].Winner != "a" {
		t.Errorf("conflicts = %v", conflicts)
	}
	for uri, want := range map[string]string{
		"demo://a/readme":   "a",
		"demo://b/readme":   "b",
		"demo://a/items/42": "a",
		"files://etc/hosts": "b",
	} {
		r, ok := s.Resource(uri)
		if !ok || r.Backend != want || r.Name != uri {
			t.Errorf("%s -> %+v %v, want %s", uri, r, ok, want)
		}
	}
	if _, ok := s.Resource("demo://c/x"); ok {
		t.Error("unknown URI routed")
	}
	if r, ok := s.Template("demo://a/items/{id}"); !ok || r.Backend != "a" {
		t.Errorf("template route %+v", r)
	}
}

// TestLongURIsAndTemplates: a URI up to MaxTemplateURI bytes is matched
// against templates; a longer one only against the resources listed, since
// matching it would cost about 2 µs of CPU a byte.
func TestLongURIsAndTemplates(t *testing.T) {
	long := "demo://a/items/" + strings.Repeat("x", MaxTemplateURI)
	a := &Inventory{Backend: "a",
		Resources: []*mcp.Resource{{URI: long, Name: "long"}},
		Templates: []*mcp.ResourceTemplate{{URITemplate: "demo://a/items/{id}", Name: "item"}},
	}
	s, _, err := Build(Policy{Strategy: config.StrategyPrefix, Separator: "_", Backends: []string{"a"}}, map[string]*Inventory{"a": a})
	if err != nil {
		t.Fatal(err)
	}
	atMost := long[:MaxTemplateURI]
	if r, ok := s.Resource(atMost); !ok || r.Backend != "a" {
		t.Errorf("a URI of %d bytes: %+v %v, want the template's route", len(atMost), r, ok)
	}
	if r, ok := s.Resource(long); !ok || r.Name != long {
		t.Errorf("a listed resource's URI of %d bytes: %+v %v, want its route", len(long), r.Backend, ok)
	}
	if r, ok := s.Resource(long + "y"); ok {
		t.Errorf("a URI of %d bytes was matched against templates: %+v", len(long)+1, r.Backend)
	}
}

func TestCatalogSetRemoveChange(t *testing.T) {
	c := New(Policy{Strategy: config.StrategyPrefix, Separator: "_", Backends: []string{"a", "b"}})
	if len(c.Snapshot().Tools()) != 0 {
		t.Fatal("new catalog not empty")
	}
	ch, _, err := c.Set(inv("a", "x"))
	if err != nil || !ch.Tools || !ch.Prompts || ch.Resources {
		t.Fatalf("first set: %+v %v", ch, err)
	}
	old := c.Snapshot()
	ch, _, _ = c.Set(inv("a", "x"))
	if ch.Any() {
		t.Errorf("identical re-list reported change %+v", ch)
	}
	ch, _, _ = c.Set(inv("b", "y"))
	if !ch.Tools {
		t.Error("adding b not reported")
	}
	if len(old.Tools()) != 1 {
		t.Error("an old snapshot changed after publish")
	}
	if ch := c.Remove("b"); !ch.Tools {
		t.Error("removing b not reported")
	}
	if c.Snapshot().HasBackend("b") {
		t.Error("b still in snapshot")
	}
	if ch := c.Remove("b"); ch.Any() {
		t.Error("second remove reported change")
	}
}

func TestCatalogErrorStrategyKeepsSnapshot(t *testing.T) {
	c := New(Policy{Strategy: config.StrategyError, Backends: []string{"a", "b"}})
	if _, _, err := c.Set(inv("a", "x")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Set(inv("b", "x")); err == nil {
		t.Fatal("conflict accepted")
	}
	if r, _ := c.Snapshot().Tool("x"); r.Backend != "a" {
		t.Errorf("snapshot changed after rejected set: %+v", r)
	}
}

func TestCatalogConcurrentReaders(t *testing.T) {
	c := New(Policy{Strategy: config.StrategyFirstWins, Backends: []string{"a", "b"}})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := c.Snapshot()
				for _, tl := range s.Tools() {
					if _, ok := s.Tool(tl.Name); !ok {
						t.Errorf("snapshot lists %q but cannot route it", tl.Name)
						return
					}
				}
			}
		})
	}
	for i := range 200 {
		c.Set(inv("a", "x", "y"))
		if i%2 == 0 {
			c.Remove("a")
		}
		c.Set(inv("b", "y", "z"))
	}
	close(stop)
	wg.Wait()
}

func TestSetPolicy(t *testing.T) {
	c := New(Policy{Strategy: config.StrategyPrefix, Separator: "_", Backends: []string{"a", "b"}})
	c.Set(inv("a", "x"))
	c.Set(inv("b", "x"))
	ch, _, err := c.SetPolicy(Policy{Strategy: config.StrategyFirstWins, Backends: []string{"b", "a"}})
	if err != nil || !ch.Tools {
		t.Fatalf("first-wins: %+v %v", ch, err)
	}
	if r, _ := c.Snapshot().Tool("x"); r.Backend != "b" {
		t.Errorf("x -> %q after reorder", r.Backend)
	}
	if _, _, err := c.SetPolicy(Policy{Strategy: config.StrategyError, Backends: []string{"a", "b"}}); err == nil {
		t.Error("conflicting policy accepted")
	}
	if r, _ := c.Snapshot().Tool("x"); r.Backend != "b" {
		t.Error("rejected policy changed the snapshot")
	}
}
