package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/argusmcp/argus/internal/conformance/checks"
)

// passed counts the scenarios of universe this target passed.
func (tr *targetRun) passed(universe []string) (int, int) {
	n := 0
	for _, s := range universe {
		if tr.results[s].Pass() {
			n++
		}
	}
	return n, len(universe)
}

// run is the whole program after flag parsing: set up, run each selected
// target, report, and decide the exit status.
func (h *harness) run(ctx context.Context) int {
	var names []string
	for _, s := range h.opts.suites {
		names = append(names, s.title())
	}
	h.logf("conformance: %s against %s@%s (clone %s)", strings.Join(names, " and "), everythingPkg, sdkVersion, h.root)
	total := time.Now()
	start := time.Now()
	if err := h.setup(ctx); err != nil {
		if ctx.Err() != nil {
			return exitFailed
		}
		h.logf("conformance: setup failed: %v", err)
		return exitHarness
	}
	h.timing.add("setup total", time.Since(start))

	code := exitOK
	var runs []*targetRun
	for _, su := range h.opts.suites {
		h.useSuite(su)
		h.logf("\n== suite %s ==", su.title())
		runs = nil
		for _, k := range h.opts.only {
			if ctx.Err() != nil {
				break
			}
			tr := h.runTarget(ctx, targetByKey(k))
			if tr.err != nil && ctx.Err() == nil {
				h.logf("[%s] could not run: %v", k, tr.err)
			}
			runs = append(runs, tr)
		}
		if ctx.Err() != nil {
			return exitFailed
		}
		if su == h.opts.suites[len(h.opts.suites)-1] {
			h.timing.add("total", time.Since(total))
		}

		var buf bytes.Buffer
		fmt.Fprintf(&buf, "\nsuite: %s\n", su.title())
		code = max(code, report(&buf, runs, h))
		h.out.Write(buf.Bytes())
		if err := os.WriteFile(filepath.Join(h.resultsDir, "summary.txt"), buf.Bytes(), 0o644); err != nil {
			h.logf("conformance: writing summary: %v", err)
		}
		// With -keep only the last suite's servers are left running.
		if h.opts.keep && su != h.opts.suites[len(h.opts.suites)-1] {
			for _, tr := range runs {
				h.procs.Stop(tr.procs...)
			}
		}
	}
	h.reported = true

	if h.opts.keep {
		h.logf("\n-keep: servers left running until interrupted (Ctrl-C):")
		for _, tr := range runs {
			if tr.url != "" {
				h.logf("  %s  %-32s %s", tr.t.key, tr.t.title, tr.url)
			}
		}
		<-ctx.Done()
	}
	return code
}

// report prints the scenario table, the totals, the failing checks and the
// verdict, and returns the exit status.
func report(w io.Writer, runs []*targetRun, h *harness) int {
	// Scenarios in the order the suite ran them, across targets.
	var universe []string
	if h != nil {
		universe = append(universe, h.opts.scenarios...)
	}
	for _, tr := range runs {
		for _, s := range tr.order {
			if !containsStr(universe, s) {
				universe = append(universe, s)
			}
		}
	}
	width := len("scenario")
	for _, s := range universe {
		width = max(width, len(s))
	}

	row := func(first string, cells []string) {
		line := fmt.Sprintf("%-*s", width, first)
		for _, c := range cells {
			line += fmt.Sprintf("  %-5s", c)
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	var head []string
	for _, tr := range runs {
		head = append(head, tr.t.key)
	}
	fmt.Fprintln(w)
	row("scenario", head)
	anyWarn := false
	for _, s := range universe {
		var cells []string
		for _, tr := range runs {
			r := tr.results[s]
			cell := "FAIL"
			switch {
			case tr.err != nil || r == nil:
				cell = "-"
			case r.Pass() && len(r.WithStatus("WARNING")) > 0:
				cell, anyWarn = "PASS*", true
			case r.Pass():
				cell = "PASS"
			}
			cells = append(cells, cell)
		}
		row(s, cells)
	}
	if anyWarn {
		fmt.Fprintln(w, "(PASS*: passed with warnings; - : no result)")
	} else {
		fmt.Fprintln(w, "(- : no result)")
	}

	fmt.Fprintln(w)
	var totals []string
	for _, tr := range runs {
		if tr.err != nil {
			totals = append(totals, tr.t.key+": did not run")
			continue
		}
		p, n := tr.passed(universe)
		totals = append(totals, fmt.Sprintf("%s: %d/%d", tr.t.key, p, n))
	}
	fmt.Fprintln(w, strings.Join(totals, "  "))
	for _, tr := range runs {
		fmt.Fprintf(w, "  %s = %s\n", tr.t.key, tr.t.title)
	}

	// Failing checks (and warnings), per target.
	for _, tr := range runs {
		if tr.err != nil {
			fmt.Fprintf(w, "\n%s (%s) did not run: %v\n", tr.t.key, tr.t.title, tr.err)
			continue
		}
		var lines []string
		for _, s := range universe {
			r := tr.results[s]
			switch {
			case r == nil:
				lines = append(lines, fmt.Sprintf("  %s: no result (not run)", s))
			case r.Crash != "":
				lines = append(lines, fmt.Sprintf("  %s: %s", s, r.Crash))
			default:
				for _, c := range r.WithStatus("FAILURE") {
					lines = append(lines, fmt.Sprintf("  %s: [%s] %s", s, c.ID, checks.Message(c)))
				}
				for _, c := range r.WithStatus("WARNING") {
					lines = append(lines, fmt.Sprintf("  %s: warning [%s] %s", s, c.ID, checks.Message(c)))
				}
			}
		}
		for _, n := range tr.notes {
			lines = append(lines, "  note: "+n)
		}
		if len(lines) > 0 {
			p, n := tr.passed(universe)
			fmt.Fprintf(w, "\n%s (%s): %d of %d scenarios failed\n", tr.t.key, tr.t.title, n-p, n)
			for _, l := range lines {
				fmt.Fprintln(w, l)
			}
		}
	}

	if h != nil && len(h.timing.steps) > 0 {
		fmt.Fprintln(w, "\ntimings:")
		for _, s := range h.timing.steps {
			fmt.Fprintf(w, "  %-45s %s\n", s.name, fmtDur(s.d))
		}
	}

	if h != nil {
		fmt.Fprintf(w, "\nresults: %s/<target>/ (suite.log, suite/server-<scenario>-<time>/checks.json, server logs, argus.hcl)\n", h.rel(h.resultsDir))
	}
	var exp map[string]map[string]string
	suiteKey := ""
	if h != nil && h.suite != nil {
		suiteKey = h.suite.key
		exp = h.expected[suiteKey]
	}
	return verdict(w, runs, universe, exp)
}

// verdict: (a) must have run; (b) and (c) must pass every scenario (a)
// passes, or every scenario when (a) was not selected, except the ones
// expected (target key -> scenario -> why) lists for them; an expected
// failure that passes is stale and fails the verdict too, so the list
// shrinks as Argus improves and never hides a fixed scenario's regression.
func verdict(w io.Writer, runs []*targetRun, universe []string, expected map[string]map[string]string) int {
	var base *targetRun
	for _, tr := range runs {
		if tr.t.key == "a" {
			base = tr
		}
	}
	fmt.Fprintln(w)
	if base != nil && base.err != nil {
		fmt.Fprintln(w, "FAIL: the reference server (a) could not be tested, so there is no baseline")
		return exitHarness
	}
	required := universe
	what := "every scenario"
	if base != nil {
		required = nil
		for _, s := range universe {
			if base.results[s].Pass() {
				required = append(required, s)
			}
		}
		what = "every scenario the reference server passes"
		if p, n := base.passed(universe); p < n {
			fmt.Fprintf(w, "note: the reference server itself fails %d of %d scenarios; those are not required\n", n-p, n)
		}
	}
	code := exitOK
	argus, anyKnown := 0, false
	for _, tr := range runs {
		if tr.t.key == "a" {
			continue
		}
		argus++
		if tr.err != nil {
			fmt.Fprintf(w, "FAIL: %s (%s) did not run: %v\n", tr.t.key, tr.t.title, tr.err)
			code = max(code, exitHarness)
			continue
		}
		var miss, known, stale []string
		for _, s := range required {
			if tr.results[s].Pass() {
				continue
			}
			if _, ok := expected[tr.t.key][s]; ok {
				known = append(known, s)
				continue
			}
			miss = append(miss, s)
		}
		for _, s := range universe {
			if _, ok := expected[tr.t.key][s]; ok && tr.results[s].Pass() {
				stale = append(stale, s)
			}
		}
		if len(known) > 0 {
			anyKnown = true
			fmt.Fprintf(w, "expected: %s (%s) fails %d scenario(s) listed in %s:\n", tr.t.key, tr.t.title, len(known), expectedFailuresFile)
			for _, s := range known {
				fmt.Fprintf(w, "  %s  (%s)\n", s, expected[tr.t.key][s])
			}
		}
		if len(miss) > 0 {
			fmt.Fprintf(w, "FAIL: %s (%s) fails %d required scenario(s): %s\n", tr.t.key, tr.t.title, len(miss), strings.Join(miss, ", "))
			code = max(code, exitFailed)
		}
		if len(stale) > 0 {
			fmt.Fprintf(w, "FAIL: %s (%s) passes %d scenario(s) listed as expected failures; remove them from %s: %s\n",
				tr.t.key, tr.t.title, len(stale), expectedFailuresFile, strings.Join(stale, ", "))
			code = max(code, exitFailed)
		}
	}
	switch {
	case code != exitOK:
	case argus == 0:
		p, n := base.passed(universe)
		fmt.Fprintf(w, "OK: the reference server ran (%d/%d); no Argus target selected\n", p, n)
	default:
		also := ""
		if anyKnown {
			also = ", apart from the expected failures listed above"
		}
		fmt.Fprintf(w, "OK: the Argus targets pass %s (%d)%s\n", what, len(required), also)
	}
	return code
}
