package policy

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/request"
)

func run(t *testing.T, g *Guard, c *request.Call, res mcp.Result) (mcp.Result, error) {
	t.Helper()
	h := g.Middleware()(func(context.Context, *request.Call) (mcp.Result, error) { return res, nil })
	return h(context.Background(), c)
}

func call(user string, groups []string, tool string, args string) *request.Call {
	c := &request.Call{Method: "tools/call", Capability: tool, Facts: request.Facts{UserID: user, Groups: groups}}
	c.Params = &mcp.CallToolParamsRaw{Name: tool, Arguments: json.RawMessage(args)}
	return c
}

func code(err error) int64 {
	var w *request.Error
	if errors.As(err, &w) {
		return w.Wire.Code
	}
	return 0
}

func TestNoPolicyAllowsAll(t *testing.T) {
	g, _ := New(&config.Config{}, nil)
	if _, err := run(t, g, call("bob", nil, "db_delete_row", `{}`), &mcp.CallToolResult{}); err != nil {
		t.Fatal(err)
	}
}

func TestPolicies(t *testing.T) {
	cfg := &config.Config{Policies: []config.Policy{
		{Name: "everyone-reads", Effect: "allow", Tools: []string{"*_get_*", "*_list_*"}},
		{Name: "sre-deletes", Effect: "allow", Tools: []string{"*_delete_*"}, Groups: []string{"sre"}},
		{Name: "no-force", Effect: "deny", Tools: []string{"*"}, Condition: `has(arguments.force) && arguments.force == true && !("lead" in groups)`},
	}}
	g, err := New(cfg, func(kind, name string) (string, bool) { return "db", true })
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user   string
		groups []string
		tool   string
		args   string
		allow  bool
		policy string
	}{
		{"alice", []string{"sre"}, "db_delete_row", `{}`, true, "sre-deletes"},
		{"bob", []string{"dev"}, "db_delete_row", `{}`, false, ""},
		{"bob", nil, "db_get_row", `{}`, true, "everyone-reads"},
		{"alice", []string{"sre"}, "db_delete_row", `{"force":true}`, false, "no-force"},
		{"carol", []string{"sre", "lead"}, "db_delete_row", `{"force":true}`, true, "sre-deletes"},
		{"bob", nil, "db_drop", `{}`, false, ""}, // default deny once policies exist
	} {
		c := call(tc.user, tc.groups, tc.tool, tc.args)
		_, err := run(t, g, c, &mcp.CallToolResult{})
		if (err == nil) != tc.allow || c.Policy != tc.policy {
			t.Errorf("%s %v %s %s: err %v policy %q; want allow=%v policy %q", tc.user, tc.groups, tc.tool, tc.args, err, c.Policy, tc.allow, tc.policy)
		}
		if err != nil && (code(err) != CodeDenied || request.Classify(nil, err) != request.OutcomePolicyDenied || !strings.Contains(err.Error(), "denied")) {
			t.Errorf("denial: %v (code %d)", err, code(err))
		}
	}
	// Lists are filtered: bob never sees the delete tool; the tool whose
	// denial depends on arguments stays listed.
	tools := &mcp.ListToolsResult{Tools: []*mcp.Tool{{Name: "db_get_row"}, {Name: "db_delete_row"}, {Name: "db_drop"}}}
	for user, want := range map[string]string{"bob": "db_get_row", "alice": "db_get_row,db_delete_row"} {
		groups := map[string][]string{"alice": {"sre"}}[user]
		res, err := run(t, g, &request.Call{Method: "tools/list", Facts: request.Facts{UserID: user, Groups: groups}}, tools)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tl := range res.(*mcp.ListToolsResult).Tools {
			names = append(names, tl.Name)
		}
		if strings.Join(names, ",") != want {
			t.Errorf("%s sees %v, want %s", user, names, want)
		}
	}
	if len(tools.Tools) != 3 {
		t.Error("the catalogue's own list was modified")
	}
	// Reload: a new policy set takes effect at once.
	g.Set(&config.Config{Policies: []config.Policy{{Name: "all", Effect: "allow"}}})
	if _, err := run(t, g, call("bob", nil, "db_drop", `{}`), &mcp.CallToolResult{}); err != nil {
		t.Errorf("after reload: %v", err)
	}
}

func TestQuota(t *testing.T) {
	cfg := &config.Config{Quotas: []config.Quota{
		{Name: "default", Rate: 2, Per: 200 * time.Millisecond, Burst: 2},
		{Name: "vip", Users: []string{"vip"}, Rate: 100, Per: time.Second, Burst: 100},
	}}
	g, _ := New(cfg, nil)
	for i := range 2 {
		if _, err := run(t, g, call("bob", nil, "t", `{}`), nil); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	c := call("bob", nil, "t", `{}`)
	_, err := run(t, g, c, nil)
	var w *request.Error
	if !errors.As(err, &w) || w.Wire.Code != CodeRateLimited || request.Classify(nil, err) != request.OutcomeRateLimited ||
		!strings.Contains(w.Wire.Message, "retry in") || c.Policy != "quota:default" {
		t.Fatalf("third call: %v", err)
	}
	var data struct {
		RetryAfterMS int64 `json:"retry_after_ms"`
	}
	if json.Unmarshal(w.Wire.Data, &data) != nil || data.RetryAfterMS <= 0 {
		t.Errorf("retry hint %s", w.Wire.Data)
	}
	if g.Rejected.Load() != 1 {
		t.Errorf("rejected = %d", g.Rejected.Load())
	}
	// Another user has a bucket of their own; vip a bigger quota.
	if _, err := run(t, g, call("carol", nil, "t", `{}`), nil); err != nil {
		t.Errorf("carol: %v", err)
	}
	for range 10 {
		if _, err := run(t, g, call("vip", nil, "t", `{}`), nil); err != nil {
			t.Fatalf("vip: %v", err)
		}
	}
	// bob recovers once the bucket refills.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := run(t, g, call("bob", nil, "t", `{}`), nil); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bob's quota never recovered")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCompletionsAndTemplates: a completion is checked as a use of its
// prompt or resource template (it used to pass unchecked: a user denied a
// prompt got its argument completions), and resources/templates/list is
// filtered like the other lists (it used to list every template).
func TestCompletionsAndTemplates(t *testing.T) {
	g, err := New(&config.Config{Policies: []config.Policy{
		{Name: "bob-alpha", Effect: "allow", Users: []string{"bob"}, Prompts: []string{"alpha_*"}, Resources: []string{"demo://alpha/*"}},
		{Name: "no-style", Effect: "deny", Users: []string{"bob"}, Prompts: []string{"alpha_secret"}},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	complete := func(refType, name, uri string) *request.Call {
		return &request.Call{Method: "completion/complete", Capability: name + uri, Facts: request.Facts{UserID: "bob"},
			Params: &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: refType, Name: name, URI: uri}, Argument: mcp.CompleteParamsArgument{Name: "a", Value: "b"}}}
	}
	for _, tc := range []struct {
		c      *request.Call
		allow  bool
		policy string
	}{
		{complete("ref/prompt", "alpha_greet", ""), true, "bob-alpha"},
		{complete("ref/prompt", "beta_greet", ""), false, ""},
		{complete("ref/prompt", "alpha_secret", ""), false, "no-style"},
		{complete("ref/resource", "", "demo://alpha/{id}"), true, "bob-alpha"},
		{complete("ref/resource", "", "demo://beta/{id}"), false, ""},
	} {
		_, err := run(t, g, tc.c, &mcp.CompleteResult{})
		if (err == nil) != tc.allow || tc.c.Policy != tc.policy || (err != nil && code(err) != CodeDenied) {
			t.Errorf("completion of %s: err %v policy %q; want allow=%v policy %q", tc.c.Capability, err, tc.c.Policy, tc.allow, tc.policy)
		}
	}
	templates := &mcp.ListResourceTemplatesResult{ResourceTemplates: []*mcp.ResourceTemplate{{URITemplate: "demo://alpha/{id}"}, {URITemplate: "demo://beta/{id}"}}}
	res, err := run(t, g, &request.Call{Method: "resources/templates/list", Facts: request.Facts{UserID: "bob"}}, templates)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.(*mcp.ListResourceTemplatesResult).ResourceTemplates; len(got) != 1 || got[0].URITemplate != "demo://alpha/{id}" {
		t.Errorf("bob's templates: %v, want demo://alpha/{id} alone", got)
	}
	if len(templates.ResourceTemplates) != 2 {
		t.Error("the catalogue's own list was modified")
	}
}
