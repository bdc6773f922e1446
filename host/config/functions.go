package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// secretSet collects the values resolved through env() and file().
type secretSet struct {
	mu     sync.Mutex
	values []string
	notify func(...string) // if set, also told every value added
}

// add records v, and v without surrounding white space, since a value read
// from a file usually ends in a newline that the places it reaches do not.
func (s *secretSet) add(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range []string{v, strings.TrimSpace(v)} {
		if x != "" {
			s.values = append(s.values, x)
			if s.notify != nil {
				s.notify(x)
			}
		}
	}
}

// evalContext returns the functions a configuration may call. baseDir is
// where relative file() paths resolve.
func evalContext(baseDir string, secrets *secretSet) *hcl.EvalContext {
	return &hcl.EvalContext{Functions: map[string]function.Function{
		"env":  envFunc(secrets),
		"file": fileFunc(baseDir, secrets),
	}}
}

// envFunc implements env("NAME") and env("NAME", "default"). A variable that
// is unset and has no default is an error rather than an empty string, so a
// missing token fails loudly at start-up instead of disabling a check.
func envFunc(secrets *secretSet) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the value of an environment variable.",
		Params:      []function.Parameter{{Name: "name", Type: cty.String}},
		VarParam:    &function.Parameter{Name: "default", Type: cty.String},
		Type:        function.StaticReturnType(cty.String),
		RefineResult: func(b *cty.RefinementBuilder) *cty.RefinementBuilder {
			return b.NotNull()
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if len(args) > 2 {
				return cty.NilVal, function.NewArgErrorf(2, "env takes a name and at most one default value")
			}
			name := args[0].AsString()
			v, ok := os.LookupEnv(name)
			if !ok {
				if len(args) == 2 {
					v = args[1].AsString()
				} else {
					return cty.NilVal, function.NewArgErrorf(0, "environment variable %q is not set (give a default as env(%q, \"value\"))", name, name)
				}
			}
			secrets.add(v)
			return cty.StringVal(v), nil
		},
	})
}

// fileFunc implements file("path"): the contents of a regular file of at
// most MaxFileBytes, as a UTF-8 string.
func fileFunc(baseDir string, secrets *secretSet) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the contents of a file.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		RefineResult: func(b *cty.RefinementBuilder) *cty.RefinementBuilder {
			return b.NotNull()
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := args[0].AsString()
			if !filepath.IsAbs(p) {
				p = filepath.Join(baseDir, p)
			}
			b, err := readFile(p)
			if err != nil {
				return cty.NilVal, function.NewArgErrorf(0, "cannot read %s: %v", p, err)
			}
			if !utf8.Valid(b) {
				return cty.NilVal, function.NewArgError(0, fmt.Errorf("%s is not valid UTF-8", p))
			}
			secrets.add(string(b))
			return cty.StringVal(string(b)), nil
		},
	})
}
