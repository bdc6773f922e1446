package configload

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/config/configload/attr"
	"github.com/argusmcp/argus/host/policy/expr"
)

// build checks the auth block's OAuth settings and jwt blocks into a.
func (b *authBlock) build(a *config.Auth) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if b.Resource != nil {
		a.Resource = *b.Resource
		if why := checkHTTPURL(*b.Resource); why != "" {
			diags = append(diags, attr.Error(b.Body, "resource", "Invalid resource URL",
				fmt.Sprintf("%q %s.", *b.Resource, why)))
		}
	}
	a.Scopes, a.AdminGroups = b.Scopes, b.AdminGroups
	issuers := map[string]*jwtBlock{}
	names := map[string]*jwtBlock{}
	for _, j := range b.JWT {
		if prev := names[j.Name]; prev != nil {
			diags = append(diags, attr.Duplicate("Duplicate jwt block", "jwt block", j.Name, "", prev.DeclRange, j.DeclRange))
			continue
		}
		names[j.Name] = j
		c := config.JWT{Name: j.Name, Issuer: j.Issuer, Audiences: j.Audiences,
			UserClaim: config.DefaultUserClaim, GroupsClaim: config.DefaultGroupsClaim, Leeway: config.DefaultJWTLeeway,
			Algorithms: config.DefaultJWTAlgorithms, JWKSMinRefresh: config.DefaultJWKSMinRefresh, JWKSMaxAge: config.DefaultJWKSMaxAge,
			DeclRange: j.DeclRange}
		if why := checkHTTPURL(j.Issuer); why != "" {
			diags = append(diags, attr.Error(j.Body, "issuer", "Invalid issuer URL",
				fmt.Sprintf("%q %s. The issuer must be exactly the iss claim of its tokens.", j.Issuer, why)))
		} else if prev := issuers[j.Issuer]; prev != nil {
			diags = append(diags, attr.Error(j.Body, "issuer", "Duplicate issuer",
				fmt.Sprintf("jwt %q at %s already trusts %q; a token's issuer must name one jwt block.", prev.Name, prev.DeclRange, j.Issuer)))
		}
		issuers[j.Issuer] = j
		if j.JWKSURL != nil {
			c.JWKSURL = *j.JWKSURL
			if why := checkHTTPURL(*j.JWKSURL); why != "" {
				diags = append(diags, attr.Error(j.Body, "jwks_url", "Invalid JWKS URL", fmt.Sprintf("%q %s.", *j.JWKSURL, why)))
			}
		}
		if len(c.Audiences) == 0 {
			if a.Resource == "" {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No audience",
					Detail: fmt.Sprintf("jwt %q needs audiences, or the auth block a resource (its default audience): "+
						"a token must have been issued for this gateway (RFC 8707).", j.Name),
					Subject: j.DeclRange.Ptr()})
			}
			c.Audiences = []string{a.Resource}
		}
		if j.UserClaim != nil {
			c.UserClaim = *j.UserClaim
		}
		if j.GroupsClaim != nil {
			c.GroupsClaim = *j.GroupsClaim
		}
		diags = append(diags, attr.Duration(j.Body, "leeway", j.Leeway, true, &c.Leeway)...)
		diags = append(diags, attr.Duration(j.Body, "jwks_min_refresh", j.JWKSMinRefresh, true, &c.JWKSMinRefresh)...)
		diags = append(diags, attr.Duration(j.Body, "jwks_max_age", j.JWKSMaxAge, false, &c.JWKSMaxAge)...)
		if len(j.Algorithms) > 0 {
			c.Algorithms = j.Algorithms
			for _, alg := range j.Algorithms {
				if !slices.Contains(config.JWTAlgorithms, alg) {
					why := "use one of " + attr.QuoteList(config.JWTAlgorithms)
					if strings.EqualFold(alg, "none") || strings.HasPrefix(strings.ToUpper(alg), "HS") {
						why = "unsigned and shared-secret (HMAC) tokens are never accepted; use one of " + attr.QuoteList(config.JWTAlgorithms)
					}
					diags = append(diags, attr.Error(j.Body, "algorithms", "Unsupported JWT algorithm",
						fmt.Sprintf("%q: %s.", alg, why)))
				}
			}
		}
		a.JWT = append(a.JWT, c)
	}
	return diags
}

// checkHTTPURL explains why u is no usable issuer, resource or JWKS URL:
// it must be absolute, https (http only for a loopback host, as in tests),
// without a fragment. "" when it is fine.
func checkHTTPURL(u string) string {
	p, err := url.Parse(u)
	switch {
	case err != nil || p.Host == "" || (p.Scheme != "https" && p.Scheme != "http"):
		return "is not an absolute https:// URL"
	case p.Fragment != "" || strings.HasSuffix(u, "#"):
		return "has a fragment"
	case p.Scheme == "http" && !isLoopback(p.Hostname()):
		return "uses http:// for a host that is not loopback; use https://"
	}
	return ""
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// buildPolicies checks the policy blocks: names, effects, globs, backends,
// CEL conditions (compiled, so unknown names are caught here) and pairs
// that contradict each other.
func (raw *fileSchema) buildPolicies(cfg *config.Config, backends map[string]*backendBlock) hcl.Diagnostics {
	var diags hcl.Diagnostics
	byName := map[string]*policyBlock{}
	for _, p := range raw.Policies {
		if prev := byName[p.Name]; prev != nil {
			diags = append(diags, attr.Duplicate("Duplicate policy", "policy", p.Name, "", prev.DeclRange, p.DeclRange))
			continue
		}
		byName[p.Name] = p
		pol := config.Policy{Name: p.Name, Effect: p.Effect, Tools: p.Tools, Resources: p.Resources, Prompts: p.Prompts,
			Backends: p.Backends, Users: p.Users, Groups: p.Groups, DeclRange: p.DeclRange}
		diags = append(diags, attr.OneOf(p.Body, "effect", p.Effect, "policy effect", []string{"allow", "deny"})...)
		for _, a := range []struct {
			name string
			list []string
		}{{"tools", p.Tools}, {"resources", p.Resources}, {"prompts", p.Prompts}} {
			for _, pat := range a.list {
				if _, err := path.Match(pat, ""); err != nil {
					diags = append(diags, attr.Error(p.Body, a.name, "Invalid glob pattern", fmt.Sprintf("%q: %v.", pat, err)))
				}
			}
		}
		for _, b := range p.Backends {
			if backends[b] == nil {
				diags = append(diags, attr.Error(p.Body, "backends", "Unknown backend in policy",
					fmt.Sprintf("Policy %q names backend %q, but no backend block has that name.", p.Name, b)))
			}
		}
		if p.Condition != nil {
			pol.Condition = *p.Condition
			pol.ConditionRange = attr.Range(p.Body, "condition")
			if _, err := expr.Compile(*p.Condition); err != nil {
				diags = append(diags, attr.Error(p.Body, "condition", "Invalid policy condition",
					fmt.Sprintf("Policy %q: %s", p.Name, strings.TrimSpace(err.Error()))))
			}
		}
		cfg.Policies = append(cfg.Policies, pol)
	}
	diags = append(diags, conflictingPolicies(cfg.Policies)...)
	return diags
}

// conflictingPolicies reports an allow and a deny policy that select the
// same capabilities for the same callers with no condition: deny always
// wins, so the allow is dead and one of the two is a mistake.
func conflictingPolicies(ps []config.Policy) hcl.Diagnostics {
	var diags hcl.Diagnostics
	key := func(p config.Policy) string {
		norm := func(l []string) string { c := slices.Clone(l); slices.Sort(c); return strings.Join(c, "\x00") }
		return strings.Join([]string{norm(p.Tools), norm(p.Resources), norm(p.Prompts), norm(p.Backends), norm(p.Users), norm(p.Groups)}, "\x01")
	}
	allows := map[string]config.Policy{}
	for _, p := range ps {
		if p.Effect == "allow" && p.Condition == "" {
			allows[key(p)] = p
		}
	}
	for _, p := range ps {
		if p.Effect != "deny" || p.Condition != "" {
			continue
		}
		if a, ok := allows[key(p)]; ok {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Conflicting policies",
				Detail: fmt.Sprintf("Policy %q denies exactly what policy %q (%s) allows, for the same callers; "+
					"deny wins, so %q never takes effect. Remove one, or narrow it with users, groups or a condition.", p.Name, a.Name, a.DeclRange, a.Name),
				Subject: p.DeclRange.Ptr()})
		}
	}
	return diags
}

// buildQuotas checks the quota blocks.
func (raw *fileSchema) buildQuotas(cfg *config.Config) hcl.Diagnostics {
	var diags hcl.Diagnostics
	byName := map[string]*quotaBlock{}
	defaults := 0
	for _, q := range raw.Quotas {
		if prev := byName[q.Name]; prev != nil {
			diags = append(diags, attr.Duplicate("Duplicate quota", "quota", q.Name, "", prev.DeclRange, q.DeclRange))
			continue
		}
		byName[q.Name] = q
		c := config.Quota{Name: q.Name, Users: q.Users, Groups: q.Groups, Rate: q.Rate, Per: time.Second, Burst: q.Rate, DeclRange: q.DeclRange}
		if q.Rate < 1 {
			diags = append(diags, attr.Error(q.Body, "rate", "Invalid quota rate", "rate must be at least 1 call per period."))
		}
		diags = append(diags, attr.Duration(q.Body, "per", q.Per, false, &c.Per)...)
		diags = append(diags, attr.Count(q.Body, "burst", q.Burst, 1, &c.Burst)...)
		if len(q.Users) == 0 && len(q.Groups) == 0 {
			if defaults++; defaults > 1 {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Several default quotas",
					Detail:  fmt.Sprintf("Quota %q names no users or groups, like an earlier one; only one quota can be the default.", q.Name),
					Subject: q.DeclRange.Ptr()})
			}
		}
		cfg.Quotas = append(cfg.Quotas, c)
	}
	return diags
}
