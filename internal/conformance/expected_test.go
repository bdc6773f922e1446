package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/argusmcp/argus/internal/conformance/checks"
)

func run3(a, b, c map[string]bool) []*targetRun {
	mk := func(key string, pass map[string]bool) *targetRun {
		tr := &targetRun{t: targetByKey(key), results: map[string]*checks.Scenario{}}
		for s, ok := range pass {
			st := "SUCCESS"
			if !ok {
				st = "FAILURE"
			}
			tr.results[s] = &checks.Scenario{Name: s, Checks: []checks.Check{{ID: s, Status: st}}}
		}
		return tr
	}
	return []*targetRun{mk("a", a), mk("b", b), mk("c", c)}
}

// TestVerdictExpectedFailures: a listed failure does not fail the run, an
// unlisted one does, and a listed scenario that passes (stale) does too.
func TestVerdictExpectedFailures(t *testing.T) {
	universe := []string{"s1", "s2"}
	all := map[string]bool{"s1": true, "s2": true}
	s2fails := map[string]bool{"s1": true, "s2": false}
	exp := map[string]map[string]string{"b": {"s2": "why"}, "c": {"s2": "why"}}
	for _, tc := range []struct {
		name string
		runs []*targetRun
		exp  map[string]map[string]string
		want int
	}{
		{"all pass, nothing listed", run3(all, all, all), nil, exitOK},
		{"listed failure", run3(all, s2fails, s2fails), exp, exitOK},
		{"unlisted failure", run3(all, s2fails, s2fails), nil, exitFailed},
		{"unlisted failure on one target", run3(all, s2fails, s2fails), map[string]map[string]string{"b": {"s2": "why"}}, exitFailed},
		{"stale entry", run3(all, all, s2fails), exp, exitFailed},
	} {
		if got := verdict(io.Discard, tc.runs, universe, tc.exp); got != tc.want {
			t.Errorf("%s: verdict = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestReadExpectedFailures(t *testing.T) {
	root, err := findRoot()
	if err != nil {
		t.Fatal(err)
	}
	exp, err := checks.ReadExpected(filepath.Join(root, expectedFailuresFile), isSuite)
	if err != nil {
		t.Fatalf("the committed file does not parse: %v", err)
	}
	if len(exp) != 0 {
		t.Errorf("the committed file lists %v; none are expected today", exp)
	}
	good := filepath.Join(t.TempDir(), "good")
	os.WriteFile(good, []byte("# comment\n2026-07-28 b,c s1  # why\n"), 0o644)
	exp, err = checks.ReadExpected(good, isSuite)
	if err != nil {
		t.Fatalf("a valid entry does not parse: %v", err)
	}
	if _, ok := exp.Why("2026-07-28", "c", "s1"); !ok {
		t.Errorf("entry for c missing: %v", exp)
	}
	for _, bad := range []string{
		"2026-07-28 b s1\n",                            // no reason
		"2026-07-28 a s1 # why\n",                      // the reference target
		"9999 b s1 # why\n",                            // unknown suite
		"2026-07-28 b s1 # x\n2026-07-28 b,c s1 # y\n", // twice
	} {
		p := filepath.Join(t.TempDir(), "f")
		os.WriteFile(p, []byte(bad), 0o644)
		if _, err := checks.ReadExpected(p, isSuite); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
