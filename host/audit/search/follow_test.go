package search_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/argusmcp/argus/host/audit/search"
	"github.com/argusmcp/argus/internal/syncbuf"
	"github.com/argusmcp/argus/internal/testbin"
	"github.com/argusmcp/argus/shared/auditlog"
	"github.com/argusmcp/argus/shared/auditlog/query"
)

// rotations are the two ways the jsonl sink rotates: its own numbered
// rotation and lumberjack's timestamped one with gzip.
var rotations = []struct {
	name, config string
	pad, n       int // padding per event, events written while following
}{
	{"numbered", "max_size_mb = 0.02\nbackup_count = 50\n", 0, 300},
	{"lumberjack gzip", "rotation = \"timestamp\"\nmax_size_mb = 1\nbackup_count = 0\ncompress = true\n", 10 << 10, 250},
}

// waitFor polls cond until it holds, failing the test after a minute
// (the machine may be busy).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFollow: -follow prints the last matches, then new ones as they are
// written, across rotations (several per poll included), until its
// context ends.
func TestFollow(t *testing.T) {
	for _, rot := range rotations {
		t.Run(rot.name, func(t *testing.T) {
			base := filepath.Join(t.TempDir(), "audit.jsonl")
			s := sink(t, base, rot.config)
			evs := events("f", 0, 20+rot.n, t0, time.Second)
			write(t, s, evs[:20], 1, rot.pad)
			isError := func(e ev) bool { return e.status == "error" }
			exp := append(want(evs[:20], 3, isError), want(evs[20:], 0, isError)...)

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var out, errOut syncbuf.Buffer
			done := make(chan error, 1)
			opts := search.Options{Filter: query.Filter{Status: "error"}, Limit: 3, JSONL: true, Follow: true, Poll: 10 * time.Millisecond}
			go func() { done <- search.Run(ctx, []string{base}, opts, &out, &errOut) }()
			waitFor(t, "the last 3 matches", func() bool { return strings.Count(out.String(), "\n") == 3 })
			write(t, s, evs[20:], 21, rot.pad)
			waitFor(t, "every new match", func() bool { return strings.Count(out.String(), "\n") >= len(exp) })
			cancel()
			if err := <-done; err != nil || errOut.String() != "" {
				t.Fatalf("Run: %v\n%s", err, errOut.String())
			}
			if got := ids(t, out.String()); !slices.Equal(got, exp) {
				t.Fatalf("got %v\nwant %v", got, exp)
			}
			if files, _ := auditlog.Files(base); len(files) < 3 {
				t.Fatalf("files %v: want rotations while following", files)
			}
		})
	}
}

// TestFollowTruncatedAndLate: a file truncated in place is read from its
// start again; a file that does not exist yet (only backups) is picked
// up when it appears.
func TestFollowTruncatedAndLate(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "audit.jsonl")
	lines := strings.Split(strings.TrimSuffix(string(jsonLines(t, events("t", 0, 4, t0, time.Second))), "\n"), "\n")
	os.WriteFile(base+".1", []byte(lines[0]+"\n"), 0o600)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncbuf.Buffer
	done := make(chan error, 1)
	opts := search.Options{JSONL: true, Follow: true, Poll: 10 * time.Millisecond}
	go func() { done <- search.Run(ctx, []string{base}, opts, &out, &errOut) }()
	waitFor(t, "the backup's event", func() bool { return strings.Count(out.String(), "\n") == 1 })
	os.WriteFile(base, []byte(lines[1]+"\n"+lines[2]+"\n"), 0o600)
	waitFor(t, "the new file's events", func() bool { return strings.Count(out.String(), "\n") == 3 })
	os.WriteFile(base, []byte(lines[3]+"\n"), 0o600) // truncated, shorter
	waitFor(t, "the truncated file's event", func() bool { return strings.Count(out.String(), "\n") == 4 })
	cancel()
	if err := <-done; err != nil || errOut.String() != base+": truncated; reading it from its start\n" {
		t.Fatalf("Run: %v\n%s", err, errOut.String())
	}
	if got := ids(t, out.String()); !slices.Equal(got, []string{"t-00000", "t-00001", "t-00002", "t-00003"}) {
		t.Fatal(got)
	}
}

// jsonLines is the model's events as the JSON lines an audit file holds
// (without integrity: the query reads any audit JSONL).
func jsonLines(t *testing.T, evs []ev) []byte {
	t.Helper()
	var b []byte
	for _, e := range sdkEvents(evs, 1, 0) {
		b = append(append(b, e.JSON...), '\n')
	}
	return b
}

// TestE2EFollow runs the real argus binary: `argus audit query --follow`
// on a trail that lumberjack rotates and gzips while it runs, stopped by
// an interrupt (exit 0).
func TestE2EFollow(t *testing.T) {
	bin, err := testbin.Path(testbin.Argus)
	if err != nil {
		t.Fatal(err)
	}
	rot := rotations[1]
	base := filepath.Join(t.TempDir(), "audit.jsonl")
	s := sink(t, base, rot.config)
	evs := events("e", 0, 10+rot.n, t0, time.Second)
	write(t, s, evs[:10], 1, rot.pad)
	alice := func(e ev) bool { return e.user == "alice" }
	exp := want(evs, 0, alice)

	var out, errOut syncbuf.Buffer
	cmd := exec.Command(bin, "audit", "query", "--follow", "--all", "--output", "jsonl", "--user", "alice", base)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	first := len(want(evs[:10], 0, alice))
	waitFor(t, "the history", func() bool { return strings.Count(out.String(), "\n") == first })
	write(t, s, evs[10:], 11, rot.pad)
	waitFor(t, "the new events", func() bool { return strings.Count(out.String(), "\n") >= len(exp) })
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil || errOut.String() != "" {
		t.Fatalf("argus: %v\n%s", err, errOut.String())
	}
	if got := ids(t, out.String()); !slices.Equal(got, exp) {
		t.Fatalf("got %v\nwant %v", got, exp)
	}
	if gz, _ := filepath.Glob(filepath.Join(filepath.Dir(base), "*.gz")); len(gz) < 2 {
		t.Fatalf("gzipped backups %v: want rotations while following", gz)
	}
}

// TestE2EExitCodes: the real binary across two replicas, with skipped
// input, and with a missing file.
func TestE2EExitCodes(t *testing.T) {
	bin, err := testbin.Path(testbin.Argus)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a", "audit.jsonl"), filepath.Join(dir, "b", "audit.jsonl")
	evA, evB := events("a", 0, 120, t0, 2*time.Second), events("b", 1, 120, t0.Add(time.Second), 2*time.Second)
	writeTrail(t, a, rotations[0].config, evA, 0, 3)
	writeTrail(t, b, rotations[0].config, evB, 0, 3)
	all := append(slices.Clone(evA), evB...)
	slices.SortFunc(all, func(x, y ev) int { return x.time.Compare(y.time) })
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, append(jsonLines(t, events("c", 0, 2, t0, time.Second)), "not json\n"...), 0o600)

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		want   []string
		stderr string
	}{
		{"denied calls by alice across two replicas", []string{"--user", "alice", "--status", "denied", "--output", "jsonl", a, b}, 0,
			want(all, 0, func(e ev) bool { return e.user == "alice" && e.errorType == "denied" }), ""},
		{"a line skipped", []string{"--output", "jsonl", bad}, 1, []string{"c-00000", "c-00001"},
			"skipped " + bad + " line 3: not an audit event: invalid character 'o' in literal null (expecting 'u')\n"},
		{"missing file", []string{a, bad + ".nope"}, 2, nil, "argus: audit query: stat " + bad + ".nope: no such file or directory\n"},
		{"unknown flag", []string{"--frob", a}, 2, nil, "flag provided but not defined: -frob"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"audit", "query"}, tc.args...)...)
			var out, errOut strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &errOut
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code || !strings.HasPrefix(errOut.String(), tc.stderr) || tc.stderr == "" && errOut.Len() > 0 {
				t.Fatalf("exit %d, want %d\nstderr:\n%s\nwant %q", code, tc.code, errOut.String(), tc.stderr)
			}
			if got := ids(t, out.String()); len(tc.want) > 0 && !slices.Equal(got, tc.want) || len(tc.want) == 0 && len(got) > 0 {
				t.Fatalf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}
