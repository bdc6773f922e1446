// Package checks reads what the conformance suite wrote for each scenario
// (<outdir>/server-<scenario>-<time>/checks.json) and judges a scenario the
// way the suite's own summary does.
package checks

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Check is one entry of a scenario's checks.json. The suite's statuses are
// SUCCESS, FAILURE, WARNING and INFO (INFO entries only describe traffic).
type Check struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Description  string `json:"description"`
	Status       string `json:"status"`
	ErrorMessage string `json:"errorMessage"`
}

// Scenario is the result of one scenario.
type Scenario struct {
	Name   string
	Checks []Check
	Crash  string // set when the scenario left no checks.json
}

// Pass follows the suite's own summary: a scenario passes when it produced
// checks and none of them is a FAILURE (warnings do not fail it).
func (r *Scenario) Pass() bool {
	if r == nil || r.Crash != "" || len(r.Checks) == 0 {
		return false
	}
	return len(r.WithStatus("FAILURE")) == 0
}

// WithStatus returns the checks with the given status.
func (r *Scenario) WithStatus(status string) []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Status == status {
			out = append(out, c)
		}
	}
	return out
}

// The suite writes each scenario's checks to
// <outdir>/server-<scenario>-<ISO timestamp with : and . replaced by ->/checks.json.
var resultDirRe = regexp.MustCompile(`^server-(.+)-(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z)$`)

// Read returns the latest result of every scenario under outDir; log is
// the suite's output, where a scenario that crashed says why.
func Read(outDir, log string) (map[string]*Scenario, error) {
	results := map[string]*Scenario{}
	entries, err := os.ReadDir(outDir)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	// Sorted names put the latest run of a scenario last.
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		m := resultDirRe.FindStringSubmatch(e.Name())
		if !e.IsDir() || m == nil {
			continue
		}
		r := &Scenario{Name: m[1]}
		data, err := os.ReadFile(filepath.Join(outDir, e.Name(), "checks.json"))
		switch {
		case err != nil:
			r.Crash = crashMessage(log, m[1])
		case json.Unmarshal(data, &r.Checks) != nil:
			r.Crash = "checks.json is not a JSON array of checks"
		case len(r.Checks) == 0:
			r.Crash = "checks.json holds no checks"
		}
		results[m[1]] = r
	}
	return results, nil
}

// crashMessage finds why the suite could not run a scenario.
func crashMessage(log, scenario string) string {
	marker := "Failed to run scenario " + scenario + ":"
	if i := strings.Index(log, marker); i >= 0 {
		rest := strings.TrimSpace(log[i+len(marker):])
		if j := strings.IndexByte(rest, '\n'); j >= 0 {
			rest = rest[:j]
		}
		return "scenario crashed: " + OneLine(rest, 200)
	}
	return "scenario left no checks.json"
}

// OneLine folds s onto one line of at most max bytes.
func OneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max-1] + "…"
	}
	return s
}

// Message is what a failing check says, on one line.
func Message(c Check) string {
	if c.ErrorMessage != "" {
		return OneLine(c.ErrorMessage, 240)
	}
	return OneLine(c.Description, 240)
}
