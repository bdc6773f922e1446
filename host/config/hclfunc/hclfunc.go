// Package hclfunc provides the functions an Argus configuration may call,
// env() and file(), and the bounded reading of configuration files
// (ReadFile) that file() and the loader share. Every value the functions
// resolve is a secret: it is collected in a Resolved.
package hclfunc

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// Resolved collects the values resolved through env() and file(). Safe
// for concurrent use.
type Resolved struct {
	mu     sync.Mutex
	values []string
	notify func(...string) // if set, also told every value added
}

// add records v, and v without surrounding white space, since a value read
// from a file usually ends in a newline that the places it reaches do not.
func (s *Resolved) add(v string) {
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

// NewResolved returns an empty Resolved that also tells notify (if not
// nil) every value it collects.
func NewResolved(notify func(...string)) *Resolved { return &Resolved{notify: notify} }

// Values are the values collected so far.
func (s *Resolved) Values() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.values)
}

// EvalContext returns the functions a configuration may call. baseDir is
// where relative file() paths resolve; what they resolve goes to secrets.
func EvalContext(baseDir string, secrets *Resolved) *hcl.EvalContext {
	return &hcl.EvalContext{Functions: map[string]function.Function{
		"env":  envFunc(secrets),
		"file": fileFunc(baseDir, secrets),
	}}
}

// envFunc implements env("NAME") and env("NAME", "default"). A variable that
// is unset and has no default is an error rather than an empty string, so a
// missing token fails loudly at start-up instead of disabling a check.
func envFunc(secrets *Resolved) function.Function {
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
func fileFunc(baseDir string, secrets *Resolved) function.Function {
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
			b, err := ReadFile(p)
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

// MaxFileBytes bounds the configuration file and every file() it reads
// (1 MiB): a larger file is refused with a diagnostic rather than read
// into memory.
const MaxFileBytes = 1 << 20

// ReadFile reads a regular file of at most MaxFileBytes. Devices, pipes
// and directories are refused before they are opened (reading /dev/zero
// would never end; opening a FIFO would block).
func ReadFile(name string) ([]byte, error) {
	st, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s); only regular files can be read", name, fileKind(st.Mode()))
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file; only regular files can be read", name)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes, the limit for configuration files and file()", name, MaxFileBytes)
	}
	return b, nil
}

func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return "mode " + m.String()
}
