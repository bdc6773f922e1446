// Package expr compiles and evaluates the CEL conditions of policy blocks.
// It is its own package so that configuration loading (which reports
// compile errors at the condition's file:line) and host/policy (which
// evaluates them) share one environment.
//
// A condition sees these variables:
//
//	user        string               the authenticated user ("" anonymous)
//	groups      list(string)         the user's groups (from a JWT)
//	issuer      string               the JWT issuer ("" for static tokens)
//	claims      map(string, dyn)     every claim of the JWT ({} otherwise)
//	method      string               the MCP method, e.g. "tools/call"
//	capability  string               the exposed tool or prompt name, or resource URI
//	backend     string               the owning backend
//	arguments   map(string, dyn)     the tool call's arguments ({} otherwise)
//
// and must be of type bool. An unknown variable or function is a compile
// error.
package expr

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/cel-go/cel"
)

// Vars are the values one evaluation sees.
type Vars struct {
	User       string
	Groups     []string
	Issuer     string
	Claims     map[string]any
	Method     string
	Capability string
	Backend    string
	Arguments  map[string]any
}

func (v Vars) activation() map[string]any {
	groups := v.Groups
	if groups == nil {
		groups = []string{}
	}
	claims, args := v.Claims, v.Arguments
	if claims == nil {
		claims = map[string]any{}
	}
	if args == nil {
		args = map[string]any{}
	}
	return map[string]any{
		"user": v.User, "groups": groups, "issuer": v.Issuer, "claims": claims,
		"method": v.Method, "capability": v.Capability, "backend": v.Backend, "arguments": args,
	}
}

var env = func() *cel.Env {
	e, err := cel.NewEnv(
		cel.Variable("user", cel.StringType),
		cel.Variable("groups", cel.ListType(cel.StringType)),
		cel.Variable("issuer", cel.StringType),
		cel.Variable("claims", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("method", cel.StringType),
		cel.Variable("capability", cel.StringType),
		cel.Variable("backend", cel.StringType),
		cel.Variable("arguments", cel.MapType(cel.StringType, cel.DynType)),
	)
	if err != nil {
		panic(err) // a fixed declaration list: cannot fail
	}
	return e
}()

// Condition is a compiled condition, safe for concurrent use.
type Condition struct {
	src string
	prg cel.Program
}

// maxCost bounds one evaluation (CEL's runtime cost units), so a
// condition over large arguments cannot stall a call.
const maxCost = 100000

// Compile checks src (names, types; it must be a bool) and prepares it.
// The error text is CEL's, with the position inside src.
func Compile(src string) (*Condition, error) {
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		msg := strings.ReplaceAll(iss.Err().Error(), "ERROR: <input>:", "at ")
		return nil, errors.New(strings.ReplaceAll(msg, " (in container '')", ""))
	}
	if ast.OutputType() != cel.BoolType && ast.OutputType() != cel.DynType {
		return nil, fmt.Errorf("the condition is of type %s; it must be a bool", ast.OutputType())
	}
	prg, err := env.Program(ast, cel.CostLimit(maxCost))
	if err != nil {
		return nil, err
	}
	return &Condition{src: src, prg: prg}, nil
}

// String is the condition's source.
func (c *Condition) String() string { return c.src }

// Eval evaluates the condition. An evaluation error (a missing key, a
// type mismatch at run time, the cost limit) is returned; callers treat
// it as "does not hold".
func (c *Condition) Eval(v Vars) (bool, error) {
	out, _, err := c.prg.Eval(v.activation())
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("the condition gave %v, not a bool", out.Value())
	}
	return b, nil
}
