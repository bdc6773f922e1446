package checks

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// Expected maps suite key -> target key -> scenario -> why.
type Expected map[string]map[string]map[string]string

// Why returns the recorded reason and whether the failure is expected.
func (e Expected) Why(suite, target, scenario string) (string, bool) {
	r, ok := e[suite][target][scenario]
	return r, ok
}

// ReadExpected parses the expected-failures file: one entry a line,
// `<suite> <targets,comma-separated> <scenario>  # why`; blank lines and
// lines starting with # are skipped. An entry without a reason, for an
// unknown suite (isSuite) or target, or listed twice is an error.
func ReadExpected(path string, isSuite func(key string) bool) (Expected, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := Expected{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		entry, why, _ := strings.Cut(line, "#")
		why = strings.TrimSpace(why)
		fields := strings.Fields(entry)
		switch {
		case len(fields) != 3:
			return nil, fmt.Errorf("%s:%d: want `<suite> <targets> <scenario>  # why`", path, n)
		case why == "":
			return nil, fmt.Errorf("%s:%d: entry without a reason (add `# why`)", path, n)
		case !isSuite(fields[0]):
			return nil, fmt.Errorf("%s:%d: unknown suite %q", path, n, fields[0])
		}
		for _, t := range strings.Split(fields[1], ",") {
			if t == "" {
				continue // as in -only: empty list items are skipped
			}
			if t != "b" && t != "c" {
				return nil, fmt.Errorf("%s:%d: target %q: only the Argus targets b and c can have expected failures", path, n, t)
			}
			if out[fields[0]] == nil {
				out[fields[0]] = map[string]map[string]string{}
			}
			if out[fields[0]][t] == nil {
				out[fields[0]][t] = map[string]string{}
			}
			if _, dup := out[fields[0]][t][fields[2]]; dup {
				return nil, fmt.Errorf("%s:%d: %s %s %s listed twice", path, n, fields[0], t, fields[2])
			}
			out[fields[0]][t][fields[2]] = why
		}
	}
	return out, sc.Err()
}
