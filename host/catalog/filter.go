package catalog

import (
	"regexp"
	"strings"

	"github.com/argusmcp/argus/host/config"
)

// Filter admits capability names or URIs by glob. Unlike path.Match, '*'
// also matches '/', so "file:///docs/*" admits every URI below /docs.
// The zero Filter admits everything.
type Filter struct {
	allow, deny []*regexp.Regexp
}

// NewFilter compiles the allow and deny globs of f. Patterns were checked by
// the config loader; a pattern that still fails to compile matches nothing.
func NewFilter(f config.Filter) Filter {
	return Filter{allow: compileGlobs(f.Allow), deny: compileGlobs(f.Deny)}
}

// Admits reports whether name passes: it matches no deny pattern and, when
// allow patterns exist, at least one of them.
func (f Filter) Admits(name string) bool {
	for _, re := range f.deny {
		if re.MatchString(name) {
			return false
		}
	}
	if len(f.allow) == 0 {
		return true
	}
	for _, re := range f.allow {
		if re.MatchString(name) {
			return true
		}
	}
	return false
}

func compileGlobs(globs []string) []*regexp.Regexp {
	out := make([]*regexp.Regexp, 0, len(globs))
	for _, g := range globs {
		if re, err := regexp.Compile(globToRegexp(g)); err == nil {
			out = append(out, re)
		}
	}
	return out
}

// globToRegexp translates '*', '?', '[...]' classes and '\' escapes.
func globToRegexp(g string) string {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(g); i++ {
		switch c := g[i]; c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '\\':
			if i+1 < len(g) {
				i++
				b.WriteString(regexp.QuoteMeta(g[i : i+1]))
			}
		case '[':
			j := strings.IndexByte(g[i:], ']')
			if j < 0 {
				b.WriteString(`\[`)
				continue
			}
			// path.Match classes ([a-z], [^0-9]) are valid RE2 classes.
			b.WriteString(g[i : i+j+1])
			i += j
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return b.String()
}
