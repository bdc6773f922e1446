// Package policy decides which calls a user may make (policy blocks) and
// how often (quota blocks), as one request.Middleware after
// authentication and before routing.
//
// Policies: with none configured every call is allowed. Once any policy
// exists, a call is allowed only if at least one allow policy matches it
// and no deny policy does (deny wins; default deny). A policy matches a
// call when its capability globs match (tools for tools/call, prompts for
// prompts/get, resources for resources/read; a policy listing none of the
// three matches every capability), its backends include the owning
// backend (if listed), the caller is among its users or groups (if
// listed), and its CEL condition holds (an evaluation error counts as
// "does not hold"). List results are filtered: a capability is listed
// when a call of it could be allowed (conditions are evaluated with empty
// arguments and an error there keeps the entry listed; the call itself is
// still checked).
//
// Quotas: each user gets a token bucket (golang.org/x/time/rate) from the
// first quota that names them, else the first that names one of their
// groups, else the default quota (one naming nobody); anonymous callers
// share the bucket of the user "". A call beyond it is refused with a
// retry hint.
//
// A Guard is built once per configuration; Set swaps in a reloaded one
// atomically (buckets of quotas whose settings did not change are kept).
package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/time/rate"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/policy/expr"
	"github.com/argusmcp/argus/host/request"
)

// JSON-RPC error codes of the refusals (Argus's implementation-defined
// range, next to request.CodeLimitReached).
const (
	CodeDenied      = -32014 // a policy denies the call
	CodeRateLimited = -32015 // the caller's quota is used up
)

// Lookup tells the owning backend of an exposed capability (kind "tool",
// "prompt" or "resource"), for policies that name backends.
type Lookup func(kind, name string) (backend string, ok bool)

type rule struct {
	cfg  config.Policy
	cond *expr.Condition
}

type quota struct {
	cfg     config.Quota
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

type state struct {
	rules  []rule
	quotas []*quota
}

// Guard enforces the policies and quotas of the configuration in force.
type Guard struct {
	st     atomic.Pointer[state]
	lookup Lookup
	// Rejected counts calls refused for a quota (the
	// argus.quota.rejected metric); Denied those refused by a policy.
	Rejected atomic.Int64
	Denied   atomic.Int64
}

// New builds a Guard for cfg's policies and quotas. lookup may be nil
// (policies naming backends then match calls by their routed backend
// only).
func New(cfg *config.Config, lookup Lookup) (*Guard, error) {
	g := &Guard{lookup: lookup}
	if err := g.Set(cfg); err != nil {
		return nil, err
	}
	return g, nil
}

// Set replaces the policies and quotas (on reload). A quota whose name
// and settings are unchanged keeps its buckets.
func (g *Guard) Set(cfg *config.Config) error {
	st := &state{}
	for _, p := range cfg.Policies {
		r := rule{cfg: p}
		if p.Condition != "" {
			c, err := expr.Compile(p.Condition)
			if err != nil {
				return fmt.Errorf("policy %q: %w", p.Name, err)
			}
			r.cond = c
		}
		st.rules = append(st.rules, r)
	}
	old := g.st.Load()
	for _, q := range cfg.Quotas {
		nq := &quota{cfg: q, buckets: map[string]*rate.Limiter{}}
		if old != nil {
			for _, oq := range old.quotas {
				if sameQuota(oq.cfg, q) {
					nq = oq
				}
			}
		}
		st.quotas = append(st.quotas, nq)
	}
	g.st.Store(st)
	return nil
}

func sameQuota(a, b config.Quota) bool {
	return a.Name == b.Name && a.Rate == b.Rate && a.Per == b.Per && a.Burst == b.Burst &&
		slices.Equal(a.Users, b.Users) && slices.Equal(a.Groups, b.Groups)
}

// kindOf maps a method to the capability kind its policy lists select.
func kindOf(method string) string {
	switch method {
	case "tools/call", "tools/list":
		return "tool"
	case "prompts/get", "prompts/list":
		return "prompt"
	case "resources/read", "resources/list", "resources/templates/list":
		return "resource"
	}
	return ""
}

// completionKind is the capability kind a completion/complete's
// reference selects ("" for a reference of no known type, which the
// router refuses).
func completionKind(p mcp.Params) string {
	cp, ok := p.(*mcp.CompleteParams)
	if !ok || cp == nil || cp.Ref == nil {
		return ""
	}
	switch cp.Ref.Type {
	case "ref/prompt":
		return "prompt"
	case "ref/resource":
		return "resource"
	}
	return ""
}

// subject is who calls and what, as the rules see it.
type subject struct {
	vars expr.Vars
	kind string
}

func (r *rule) matches(s subject) (bool, error) {
	p := &r.cfg
	var globs []string
	switch s.kind {
	case "tool":
		globs = p.Tools
	case "prompt":
		globs = p.Prompts
	case "resource":
		globs = p.Resources
	}
	if len(p.Tools)+len(p.Prompts)+len(p.Resources) > 0 && !anyGlob(globs, s.vars.Capability) {
		return false, nil
	}
	if len(p.Backends) > 0 && !slices.Contains(p.Backends, s.vars.Backend) {
		return false, nil
	}
	if len(p.Users)+len(p.Groups) > 0 && !slices.Contains(p.Users, s.vars.User) &&
		!slices.ContainsFunc(p.Groups, func(g string) bool { return slices.Contains(s.vars.Groups, g) }) {
		return false, nil
	}
	if r.cond == nil {
		return true, nil
	}
	return r.cond.Eval(s.vars)
}

func anyGlob(globs []string, name string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

// decide returns whether s may proceed and the deciding policy's name
// ("" when no policy exists or none matched). lenient treats a condition
// that fails to evaluate as holding for allow rules (list filtering).
func (st *state) decide(s subject, lenient bool) (bool, string) {
	if len(st.rules) == 0 {
		return true, ""
	}
	allowed := ""
	for i := range st.rules {
		r := &st.rules[i]
		ok, err := r.matches(s)
		if err != nil && lenient && r.cfg.Effect == "allow" {
			ok = true
		}
		if !ok {
			continue
		}
		if r.cfg.Effect == "deny" {
			if lenient && r.cond != nil {
				continue // may not deny the real call: keep it listed
			}
			return false, r.cfg.Name
		}
		if allowed == "" {
			allowed = r.cfg.Name
		}
	}
	return allowed != "", allowed
}

func vars(c *request.Call) expr.Vars {
	v := expr.Vars{User: c.UserID, Groups: c.Groups, Issuer: c.Issuer, Claims: c.Claims,
		Method: c.Method, Capability: c.Capability, Backend: c.Backend}
	if p, ok := c.Params.(*mcp.CallToolParamsRaw); ok && p != nil && len(p.Arguments) > 0 {
		var args map[string]any
		if json.Unmarshal(p.Arguments, &args) == nil {
			v.Arguments = args
		}
	}
	return v
}

// Middleware enforces the Guard on every aggregated call: quota first,
// then policy for calls of a capability, then list filtering on the way
// back.
func (g *Guard) Middleware() request.Middleware {
	return func(next request.Handler) request.Handler {
		return func(ctx context.Context, c *request.Call) (mcp.Result, error) {
			st := g.st.Load()
			if err := g.take(st, c); err != nil {
				return nil, err
			}
			kind := kindOf(c.Method)
			isList := c.Capability == "" && kind != ""
			if c.Method == "completion/complete" {
				// A completion uses its prompt or resource template: it is
				// checked as that use, and is never a list.
				kind, isList = completionKind(c.Params), false
			}
			if !isList && kind != "" && len(st.rules) > 0 {
				s := subject{vars: vars(c), kind: kind}
				if s.vars.Backend == "" && g.lookup != nil {
					s.vars.Backend, _ = g.lookup(kind, c.Capability)
				}
				ok, name := st.decide(s, false)
				c.Policy = name
				if !ok {
					g.Denied.Add(1)
					return nil, &request.Error{Outcome: request.OutcomePolicyDenied,
						Wire: &jsonrpc.Error{Code: CodeDenied, Message: denial(c, name)}}
				}
			}
			res, err := next(ctx, c)
			if err == nil && isList && len(st.rules) > 0 {
				res = g.filter(st, c, kind, res)
			}
			return res, err
		}
	}
}

func denial(c *request.Call, policy string) string {
	who := c.UserID
	if who == "" {
		who = "anonymous"
	}
	if policy == "" {
		return fmt.Sprintf("denied: no policy allows %s to use %q", who, c.Capability)
	}
	return fmt.Sprintf("denied by policy %q: %s may not use %q", policy, who, c.Capability)
}

// filter drops the entries of a list result the caller may not use.
func (g *Guard) filter(st *state, c *request.Call, kind string, res mcp.Result) mcp.Result {
	base := vars(c)
	visible := func(name string) bool {
		s := subject{vars: base, kind: kind}
		s.vars.Capability = name
		if g.lookup != nil {
			s.vars.Backend, _ = g.lookup(kind, name)
		}
		ok, _ := st.decide(s, true)
		return ok
	}
	switch r := res.(type) {
	case *mcp.ListToolsResult:
		out := *r
		out.Tools = slices.DeleteFunc(slices.Clone(r.Tools), func(t *mcp.Tool) bool { return !visible(t.Name) })
		return &out
	case *mcp.ListPromptsResult:
		out := *r
		out.Prompts = slices.DeleteFunc(slices.Clone(r.Prompts), func(p *mcp.Prompt) bool { return !visible(p.Name) })
		return &out
	case *mcp.ListResourcesResult:
		out := *r
		out.Resources = slices.DeleteFunc(slices.Clone(r.Resources), func(p *mcp.Resource) bool { return !visible(p.URI) })
		return &out
	case *mcp.ListResourceTemplatesResult:
		out := *r
		out.ResourceTemplates = slices.DeleteFunc(slices.Clone(r.ResourceTemplates), func(t *mcp.ResourceTemplate) bool { return !visible(t.URITemplate) })
		return &out
	}
	return res
}

// take spends one token of the caller's quota bucket, or refuses the
// call with a retry hint.
func (g *Guard) take(st *state, c *request.Call) error {
	q := st.quotaFor(c.UserID, c.Groups)
	if q == nil {
		return nil
	}
	q.mu.Lock()
	b := q.buckets[c.UserID]
	if b == nil {
		b = rate.NewLimiter(rate.Every(q.cfg.Per/time.Duration(q.cfg.Rate)), q.cfg.Burst)
		q.buckets[c.UserID] = b
	}
	q.mu.Unlock()
	r := b.Reserve()
	if d := r.Delay(); d > 0 {
		r.Cancel()
		g.Rejected.Add(1)
		c.Policy = "quota:" + q.cfg.Name
		retry := d.Round(time.Millisecond)
		return &request.Error{Outcome: request.OutcomeRateLimited, Wire: &jsonrpc.Error{Code: CodeRateLimited,
			Message: fmt.Sprintf("rate limited by quota %q (%d calls per %s); retry in %s", q.cfg.Name, q.cfg.Rate, q.cfg.Per, retry),
			Data:    json.RawMessage(fmt.Sprintf(`{"retry_after_ms":%d,"quota":%q}`, retry.Milliseconds(), q.cfg.Name))}}
	}
	return nil
}

func (st *state) quotaFor(user string, groups []string) *quota {
	var byGroup, def *quota
	for _, q := range st.quotas {
		switch {
		case slices.Contains(q.cfg.Users, user) && user != "":
			return q
		case byGroup == nil && slices.ContainsFunc(q.cfg.Groups, func(g string) bool { return slices.Contains(groups, g) }):
			byGroup = q
		case def == nil && len(q.cfg.Users) == 0 && len(q.cfg.Groups) == 0:
			def = q
		}
	}
	if byGroup != nil {
		return byGroup
	}
	return def
}
