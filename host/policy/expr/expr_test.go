package expr

import (
	"strings"
	"testing"
)

func TestCompileRejectsUnknownNames(t *testing.T) {
	for src, want := range map[string]string{
		`usr == "alice"`:           "undeclared reference to 'usr'",
		`"sre" in group`:           "undeclared reference to 'group'",
		`user.startsWith("a") + 1`: "no matching overload",
		`user`:                     "must be a bool",
		`frobnicate(user)`:         "undeclared reference to 'frobnicate'",
	} {
		_, err := Compile(src)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Compile(%q) = %v, want an error containing %q", src, err, want)
		}
	}
}

func TestEval(t *testing.T) {
	v := Vars{User: "alice", Groups: []string{"sre", "dev"}, Issuer: "https://idp", Method: "tools/call",
		Capability: "db_delete_row", Backend: "db",
		Claims:    map[string]any{"tenant": "acme", "level": float64(3)},
		Arguments: map[string]any{"force": true, "table": "users"}}
	for src, want := range map[string]bool{
		`"sre" in groups && capability.matches("_delete_")`: true,
		`"ops" in groups`:                    false,
		`claims.tenant == "acme"`:            true,
		`claims.level > 2.0`:                 true,
		`arguments.force == true`:            true,
		`has(arguments.dry_run)`:             false,
		`user == "alice" && backend == "db"`: true,
		`method.startsWith("tools/")`:        true,
	} {
		c, err := Compile(src)
		if err != nil {
			t.Fatalf("Compile(%q): %v", src, err)
		}
		got, err := c.Eval(v)
		if err != nil || got != want {
			t.Errorf("Eval(%q) = %v, %v; want %v", src, got, err, want)
		}
	}
	// A missing key is an evaluation error (the policy does not match).
	c, _ := Compile(`claims.missing == "x"`)
	if ok, err := c.Eval(Vars{}); ok || err == nil {
		t.Errorf("missing claim: %v, %v; want false and an error", ok, err)
	}
}
