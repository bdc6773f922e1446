// Package catalog aggregates the tools, resources, resource templates and
// prompts of every backend into one namespace and answers "which backend
// owns this name or URI".
//
// A Snapshot is immutable. Catalog keeps the current one behind an atomic
// pointer and builds a new one whenever a backend's inventory changes, so
// readers on the request path never lock and never see a half-built view.
package catalog

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/yosida95/uritemplate/v3"

	"github.com/argusmcp/argus/host/config"
)

// Inventory is what one backend lists, as the backend names it.
type Inventory struct {
	Backend   string
	Tools     []*mcp.Tool
	Resources []*mcp.Resource
	Templates []*mcp.ResourceTemplate
	Prompts   []*mcp.Prompt
}

// Filters are a backend's allow/deny filters, applied before conflicts are
// resolved: tools and prompts by name, resources by URI, templates by URI
// template.
type Filters struct {
	Tools, Resources, Prompts Filter
}

// Policy decides how names from different backends share one namespace.
type Policy struct {
	Strategy  string   // a config.Strategy* value
	Separator string   // for prefix
	Backends  []string // every backend in configuration order
	Order     []string // priority order; unlisted backends follow in configuration order
	Filters   map[string]Filters
}

// PolicyFromConfig derives the policy of cfg.
func PolicyFromConfig(cfg *config.Config) Policy {
	p := Policy{
		Strategy:  cfg.Conflict.Strategy,
		Separator: cfg.Conflict.Separator,
		Order:     cfg.Conflict.Order,
		Filters:   map[string]Filters{},
	}
	for _, b := range cfg.Backends {
		p.Backends = append(p.Backends, b.Name)
		p.Filters[b.Name] = Filters{Tools: NewFilter(b.Tools), Resources: NewFilter(b.Resources), Prompts: NewFilter(b.Prompts)}
	}
	return p
}

// Route says where a request for an exposed capability goes.
type Route struct {
	Backend string
	// Name is the capability's name (tools, prompts) or URI (resources) as
	// the backend knows it.
	Name string
}

// Conflict records two backends exposing the same name. Winner keeps it.
type Conflict struct {
	Kind    string // "tool", "prompt", "resource", "resource template"
	Name    string // the exposed name or URI
	Winner  string
	Loser   string
	Through string // the strategy that decided
}

func (c Conflict) String() string {
	return fmt.Sprintf("%s %q is exposed by backends %q and %q; %q keeps it (%s)",
		c.Kind, c.Name, c.Winner, c.Loser, c.Winner, c.Through)
}

// ConflictError is returned by Build under the "error" strategy.
type ConflictError struct {
	Conflicts []Conflict
}

func (e *ConflictError) Error() string {
	msgs := make([]string, len(e.Conflicts))
	for i, c := range e.Conflicts {
		msgs[i] = fmt.Sprintf("%s %q is exposed by both backend %q and backend %q", c.Kind, c.Name, c.Winner, c.Loser)
	}
	return "conflicting capabilities (strategy \"error\"): " + strings.Join(msgs, "; ")
}

// Snapshot is one immutable view of the aggregated catalogue.
type Snapshot struct {
	tools     []*mcp.Tool
	prompts   []*mcp.Prompt
	resources []*mcp.Resource
	templates []*mcp.ResourceTemplate

	toolRoutes     map[string]Route
	toolDefs       map[string]*mcp.Tool
	promptRoutes   map[string]Route
	resourceRoutes map[string]Route
	templateRoutes []templateRoute
	backends       map[string]bool
}

type templateRoute struct {
	tmpl    *uritemplate.Template
	backend string
}

// Empty is the snapshot with no capabilities.
var Empty = &Snapshot{}

// Tools lists the exposed tools; callers must not modify them.
func (s *Snapshot) Tools() []*mcp.Tool { return s.tools }

// Prompts lists the exposed prompts; callers must not modify them.
func (s *Snapshot) Prompts() []*mcp.Prompt { return s.prompts }

// Resources lists the exposed resources; callers must not modify them.
func (s *Snapshot) Resources() []*mcp.Resource { return s.resources }

// Templates lists the exposed resource templates; callers must not modify them.
func (s *Snapshot) Templates() []*mcp.ResourceTemplate { return s.templates }

// ToolDef is the exposed tool of that name as clients list it; callers
// must not modify it.
func (s *Snapshot) ToolDef(name string) (*mcp.Tool, bool) { t, ok := s.toolDefs[name]; return t, ok }

// Tool routes an exposed tool name.
func (s *Snapshot) Tool(name string) (Route, bool) { r, ok := s.toolRoutes[name]; return r, ok }

// Prompt routes an exposed prompt name.
func (s *Snapshot) Prompt(name string) (Route, bool) { r, ok := s.promptRoutes[name]; return r, ok }

// MaxTemplateURI is the longest URI matched against resource templates.
// The template library matches at about 2 µs of CPU a byte (17 ms for
// 8 KiB, 6 s for the 4 MB a request body may hold), so a longer URI,
// which no template of a real server is meant to match, is routed only to
// a resource listed under exactly that URI.
const MaxTemplateURI = 8 << 10

// Resource routes a URI: an exact resource first, then the first template
// (in catalogue order) that matches it, for a URI of at most
// MaxTemplateURI bytes.
func (s *Snapshot) Resource(uri string) (Route, bool) {
	if r, ok := s.resourceRoutes[uri]; ok {
		return r, true
	}
	if len(uri) > MaxTemplateURI {
		return Route{}, false
	}
	for _, t := range s.templateRoutes {
		if t.tmpl.Match(uri) != nil {
			return Route{Backend: t.backend, Name: uri}, true
		}
	}
	return Route{}, false
}

// Template routes an exposed URI template string (for completion requests
// that reference a template).
func (s *Snapshot) Template(uriTemplate string) (Route, bool) {
	for _, t := range s.templateRoutes {
		if t.tmpl.Raw() == uriTemplate {
			return Route{Backend: t.backend, Name: uriTemplate}, true
		}
	}
	return Route{}, false
}

// HasBackend reports whether backend contributes to this snapshot.
func (s *Snapshot) HasBackend(name string) bool { return s.backends[name] }

// Counts reports how many capabilities of each kind backend contributes.
func (s *Snapshot) Counts(backend string) (tools, resources, templates, prompts int) {
	for _, r := range s.toolRoutes {
		if r.Backend == backend {
			tools++
		}
	}
	for _, r := range s.resourceRoutes {
		if r.Backend == backend {
			resources++
		}
	}
	for _, t := range s.templateRoutes {
		if t.backend == backend {
			templates++
		}
	}
	for _, r := range s.promptRoutes {
		if r.Backend == backend {
			prompts++
		}
	}
	return
}

// Build aggregates invs under p. Inventories of backends p does not list
// are ignored. Under the "error" strategy any conflict makes Build fail
// with a *ConflictError; otherwise conflicts are resolved and returned so
// the caller can log them.
func Build(p Policy, invs map[string]*Inventory) (*Snapshot, []Conflict, error) {
	s := &Snapshot{
		toolRoutes:     map[string]Route{},
		toolDefs:       map[string]*mcp.Tool{},
		promptRoutes:   map[string]Route{},
		resourceRoutes: map[string]Route{},
		backends:       map[string]bool{},
	}
	var conflicts []Conflict
	through := p.Strategy
	for _, name := range p.precedence() {
		inv := invs[name]
		if inv == nil {
			continue
		}
		s.backends[name] = true
		f := p.Filters[name]
		for _, t := range inv.Tools {
			if !f.Tools.Admits(t.Name) {
				continue
			}
			exposed := p.expose(name, t.Name)
			if prev, ok := s.toolRoutes[exposed]; ok {
				conflicts = append(conflicts, Conflict{"tool", exposed, prev.Backend, name, through})
				continue
			}
			s.toolRoutes[exposed] = Route{Backend: name, Name: t.Name}
			c := *t
			c.Name = exposed
			s.tools = append(s.tools, &c)
			s.toolDefs[exposed] = &c
		}
		for _, pr := range inv.Prompts {
			if !f.Prompts.Admits(pr.Name) {
				continue
			}
			exposed := p.expose(name, pr.Name)
			if prev, ok := s.promptRoutes[exposed]; ok {
				conflicts = append(conflicts, Conflict{"prompt", exposed, prev.Backend, name, through})
				continue
			}
			s.promptRoutes[exposed] = Route{Backend: name, Name: pr.Name}
			c := *pr
			c.Name = exposed
			s.prompts = append(s.prompts, &c)
		}
		// URIs identify resources globally (tool results link to them), so
		// they are never renamed; a duplicate URI goes to the backend with
		// precedence.
		for _, r := range inv.Resources {
			if !f.Resources.Admits(r.URI) {
				continue
			}
			if prev, ok := s.resourceRoutes[r.URI]; ok {
				conflicts = append(conflicts, Conflict{"resource", r.URI, prev.Backend, name, uriThrough(through)})
				continue
			}
			s.resourceRoutes[r.URI] = Route{Backend: name, Name: r.URI}
			s.resources = append(s.resources, r)
		}
		for _, t := range inv.Templates {
			if !f.Resources.Admits(t.URITemplate) {
				continue
			}
			if prev := slices.IndexFunc(s.templateRoutes, func(tr templateRoute) bool { return tr.tmpl.Raw() == t.URITemplate }); prev >= 0 {
				conflicts = append(conflicts, Conflict{"resource template", t.URITemplate, s.templateRoutes[prev].backend, name, uriThrough(through)})
				continue
			}
			tmpl, err := uritemplate.New(t.URITemplate)
			if err != nil {
				// A template we cannot match cannot be routed; leave it out
				// rather than advertise something that fails on read.
				continue
			}
			s.templateRoutes = append(s.templateRoutes, templateRoute{tmpl: tmpl, backend: name})
			s.templates = append(s.templates, t)
		}
	}
	if p.Strategy == config.StrategyError && len(conflicts) > 0 {
		return nil, conflicts, &ConflictError{Conflicts: conflicts}
	}
	return s, conflicts, nil
}

func uriThrough(strategy string) string {
	if strategy == config.StrategyPrefix {
		return "URIs are not prefixed; configuration order decides"
	}
	return strategy
}

// precedence is the order in which backends claim names.
func (p Policy) precedence() []string {
	if p.Strategy != config.StrategyPriority {
		return p.Backends
	}
	out := slices.Clone(p.Order)
	for _, b := range p.Backends {
		if !slices.Contains(out, b) {
			out = append(out, b)
		}
	}
	return out
}

func (p Policy) expose(backend, name string) string {
	if p.Strategy == config.StrategyPrefix {
		return backend + p.Separator + name
	}
	return name
}

// Catalog holds the current Snapshot and the inventories it was built from.
// All methods are safe for concurrent use; Snapshot never blocks.
type Catalog struct {
	mu     sync.Mutex
	policy Policy
	invs   map[string]*Inventory
	snap   atomic.Pointer[Snapshot]
}

// New returns a Catalog with no inventories under p.
func New(p Policy) *Catalog {
	c := &Catalog{policy: p, invs: map[string]*Inventory{}}
	c.snap.Store(Empty)
	return c
}

// Snapshot returns the current view.
func (c *Catalog) Snapshot() *Snapshot { return c.snap.Load() }

// ToolDef is the current view's definition of the tool clients call name
// (Snapshot.ToolDef).
func (c *Catalog) ToolDef(name string) (*mcp.Tool, bool) { return c.Snapshot().ToolDef(name) }

// Change tells which lists a catalogue update altered, so that clients are
// sent list_changed only for those.
type Change struct {
	Tools, Resources, Prompts bool
}

// Any reports whether anything changed.
func (c Change) Any() bool { return c.Tools || c.Resources || c.Prompts }

// Set replaces (or adds) one backend's inventory and publishes the new
// snapshot. Under the "error" strategy a conflicting inventory is rejected
// and the previous snapshot stays in force.
func (c *Catalog) Set(inv *Inventory) (Change, []Conflict, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := make(map[string]*Inventory, len(c.invs)+1)
	for k, v := range c.invs {
		next[k] = v
	}
	next[inv.Backend] = inv
	return c.publish(next)
}

// Inventory returns the inventory last set for backend, or nil.
func (c *Catalog) Inventory(backend string) *Inventory {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.invs[backend]
}

// SetPolicy replaces the policy (after a configuration reload) and
// rebuilds the snapshot. Under the "error" strategy a policy that makes the
// current inventories conflict is rejected and nothing changes.
func (c *Catalog) SetPolicy(p Policy) (Change, []Conflict, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.policy
	c.policy = p
	ch, conflicts, err := c.publish(c.invs)
	if err != nil {
		c.policy = old
	}
	return ch, conflicts, err
}

// Remove withdraws a backend's capabilities, for example while it is down.
func (c *Catalog) Remove(backend string) Change {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.invs[backend] == nil {
		return Change{}
	}
	next := make(map[string]*Inventory, len(c.invs))
	for k, v := range c.invs {
		if k != backend {
			next[k] = v
		}
	}
	ch, _, _ := c.publish(next) // removing names cannot create a conflict
	return ch
}

func (c *Catalog) publish(invs map[string]*Inventory) (Change, []Conflict, error) {
	snap, conflicts, err := Build(c.policy, invs)
	if err != nil {
		return Change{}, conflicts, err
	}
	old := c.snap.Load()
	c.invs = invs
	c.snap.Store(snap)
	return diff(old, snap), conflicts, nil
}

func diff(a, b *Snapshot) Change {
	return Change{
		Tools:     !sameList(a.tools, b.tools, func(t *mcp.Tool) string { return t.Name }),
		Prompts:   !sameList(a.prompts, b.prompts, func(p *mcp.Prompt) string { return p.Name }),
		Resources: !sameList(a.resources, b.resources, func(r *mcp.Resource) string { return r.URI }) || !sameList(a.templates, b.templates, func(t *mcp.ResourceTemplate) string { return t.URITemplate }),
	}
}

// sameList reports whether two lists hold equal entries in the same order;
// a changed description or schema counts as a change.
func sameList[T any](a, b []*T, key func(*T) string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if key(a[i]) != key(b[i]) || !reflect.DeepEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}
