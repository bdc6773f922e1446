package search_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/argusmcp/argus/host/audit/search"
	"github.com/argusmcp/argus/shared/auditlog/query"
)

var t0 = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

// replicas writes two replicas' trails with the real jsonl sink: A with
// numbered rotation (several backups), B with lumberjack's timestamp
// rotation and gzipped backups. A's events fall on even seconds from
// t0, B's on odd ones, so merged they interleave.
type replicas struct {
	dirA, baseB    string
	filesA, filesB []string
	all            []ev // in time order
}

func newReplicas(t *testing.T) replicas {
	t.Helper()
	var r replicas
	r.dirA = filepath.Join(t.TempDir(), "a")
	r.baseB = filepath.Join(t.TempDir(), "b", "audit.jsonl")
	a := events("a", 0, 200, t0, 2*time.Second)
	b := events("b", 1, 160, t0.Add(time.Second), 2*time.Second)
	r.filesA = writeTrail(t, filepath.Join(r.dirA, "audit.jsonl"), "max_size_mb = 0.02\nbackup_count = 50\n", a, 0, 4)
	r.filesB = writeTrail(t, r.baseB, "rotation = \"timestamp\"\nmax_size_mb = 1\nbackup_count = 0\ncompress = true\n", b, 10<<10, 2)
	if !strings.HasSuffix(r.filesB[0], ".gz") {
		t.Fatalf("B's files %v: want a gzipped backup first", r.filesB)
	}
	r.all = append(slices.Clone(a), b...)
	slices.SortFunc(r.all, func(x, y ev) int { return x.time.Compare(y.time) })
	return r
}

// run runs the command in-process.
func run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	err = search.Main(context.Background(), args, &o, &e)
	return o.String(), e.String(), err
}

func want(evs []ev, limit int, keep func(ev) bool) []string {
	var out []string
	for _, e := range evs {
		if keep(e) {
			out = append(out, e.id)
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out
}

func TestQuery(t *testing.T) {
	r := newReplicas(t)
	paths := []string{r.dirA, r.baseB}
	lines := fileLines(t, append(slices.Clone(r.filesA), r.filesB...)...)
	if len(lines) != len(r.all) {
		t.Fatalf("%d lines in the files, want %d", len(lines), len(r.all))
	}
	at := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339) }

	for _, tc := range []struct {
		name  string
		args  []string
		limit int
		keep  func(ev) bool
	}{
		{"all", []string{"--all"}, 0, func(ev) bool { return true }},
		{"limit 0 is all", []string{"--limit", "0"}, 0, func(ev) bool { return true }},
		{"default limit", nil, query.DefaultLimit, func(ev) bool { return true }},
		{"limit", []string{"--limit", "7"}, 7, func(ev) bool { return true }},
		{"user", []string{"--all", "--user", "alice"}, 0, func(e ev) bool { return e.user == "alice" }},
		{"user glob", []string{"--all", "--user", "*o*"}, 0, func(e ev) bool { return e.user == "bob" || e.user == "carol" }},
		{"backend", []string{"--all", "--backend", "github"}, 0, func(e ev) bool { return e.backend == "github" }},
		{"capability glob", []string{"--all", "--capability", "demo__tool[13]"}, 0, func(e ev) bool {
			return e.capability == "demo__tool1" || e.capability == "demo__tool3"
		}},
		{"status", []string{"--all", "--status", "error"}, 0, func(e ev) bool { return e.status == "error" }},
		{"error type", []string{"--all", "--status", "denied"}, 0, func(e ev) bool { return e.errorType == "denied" }},
		{"since and until", []string{"--all", "--since", at(101 * time.Second), "--until", at(200 * time.Second)}, 0, func(e ev) bool {
			return !e.time.Before(t0.Add(101*time.Second)) && e.time.Before(t0.Add(200*time.Second))
		}},
		{"denied calls by alice", []string{"--user", "alice", "--status", "denied"}, query.DefaultLimit, func(e ev) bool {
			return e.user == "alice" && e.errorType == "denied"
		}},
		{"single dash flags, limit", []string{"-backend", "demo", "-limit", "10"}, 10, func(e ev) bool { return e.backend == "demo" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := run(t, append(append([]string{"--output", "jsonl"}, tc.args...), paths...)...)
			if err != nil || errOut != "" {
				t.Fatalf("%v\n%s", err, errOut)
			}
			got, exp := ids(t, out), want(r.all, tc.limit, tc.keep)
			if len(exp) == 0 || !slices.Equal(got, exp) {
				t.Fatalf("got %d events %v\nwant %d %v", len(got), got, len(exp), exp)
			}
			// jsonl: the lines as written, byte for byte.
			for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
				if line != lines[got[i]] {
					t.Fatalf("output line %d:\n%s\nfile line:\n%s", i+1, line, lines[got[i]])
				}
			}
		})
	}

	t.Run("flags after the paths, directories", func(t *testing.T) {
		out, _, err := run(t, r.dirA, "--output", "jsonl", filepath.Dir(r.baseB), "--user", "bob", "--all")
		if got, exp := ids(t, out), want(r.all, 0, func(e ev) bool { return e.user == "bob" }); err != nil || !slices.Equal(got, exp) {
			t.Fatalf("%v: got %v\nwant %v", err, got, exp)
		}
	})

	t.Run("one replica's files listed one by one", func(t *testing.T) {
		// as the shell expands logs/audit.jsonl*: head and lock files
		// included, backups named besides the file that brings them along.
		glob, _ := filepath.Glob(filepath.Join(r.dirA, "*"))
		if len(glob) != len(r.filesA)+2 {
			t.Fatalf("glob %v", glob)
		}
		out, errOut, err := run(t, append([]string{"--output", "jsonl", "--all"}, reversed(glob)...)...)
		if errOut != "" {
			t.Fatal(errOut)
		}
		if got, exp := ids(t, out), want(r.all, 0, func(e ev) bool { return strings.HasPrefix(e.id, "a-") }); err != nil || !slices.Equal(got, exp) {
			t.Fatalf("%v: got %v\nwant %v", err, got, exp)
		}
	})

	t.Run("table", func(t *testing.T) {
		out, errOut, err := run(t, "--user", "alice", "--limit", "6", r.dirA, r.baseB)
		if err != nil || errOut != "" {
			t.Fatalf("%v\n%s", err, errOut)
		}
		rows := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		exp := want(r.all, 6, func(e ev) bool { return e.user == "alice" })
		if len(rows) != len(exp)+1 || !strings.HasPrefix(rows[0], "TIME ") {
			t.Fatalf("table:\n%s", out)
		}
		byID := map[string]ev{}
		for _, e := range r.all {
			byID[e.id] = e
		}
		header := rows[0]
		for i, row := range rows[1:] {
			e := byID[exp[i]]
			status := e.status
			if e.errorType != "" {
				status = e.errorType
			}
			cells := strings.Fields(row)
			wantCells := []string{e.time.Format("2006-01-02T15:04:05.000Z"), e.user, e.backend, e.capability, status, strconv.FormatFloat(e.latency, 'f', -1, 64) + "ms"}
			if !slices.Equal(cells, wantCells) {
				t.Errorf("row %d: %q, want %q", i+1, cells, wantCells)
			}
			// aligned: every column starts under its header, the latency
			// ends under its header's end.
			for _, col := range []string{"USER", "BACKEND", "CAPABILITY", "STATUS"} {
				if c := strings.Index(header, col); row[c-1] != ' ' || row[c] == ' ' {
					t.Errorf("row %d: column %s not aligned:\n%s\n%s", i+1, col, header, row)
				}
			}
			if len(row) != len(header) {
				t.Errorf("row %d: latency not aligned:\n%s\n%s", i+1, header, row)
			}
		}
	})

	t.Run("since a duration ago", func(t *testing.T) {
		now := time.Now()
		evs := append(events("old", 0, 3, now.Add(-2*time.Hour), time.Second), events("new", 0, 3, now.Add(-10*time.Minute), time.Second)...)
		base := filepath.Join(t.TempDir(), "audit.jsonl")
		writeTrail(t, base, "", evs, 0, 1)
		out, _, err := run(t, "--output", "jsonl", "--since", "1h", base)
		if got := ids(t, out); err != nil || !slices.Equal(got, []string{"new-00000", "new-00001", "new-00002"}) {
			t.Fatalf("%v: %v", err, got)
		}
	})
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no FILE or DIR given"},
		{[]string{"--output", "yaml", dir}, `-output "yaml": want table or jsonl`},
		{[]string{"--limit", "-1", dir}, "-limit -1"},
		{[]string{"--since", "yesterday", dir}, "since: \"yesterday\" is neither an RFC 3339 time nor a duration"},
		{[]string{"--user", "[", dir}, "bad pattern"},
		{[]string{"--frob", dir}, "invalid usage"},
		{[]string{"--user", "alice", "--user", "bob", dir}, `filter "user" given 2 times`}, // as GET /manage/v1/audit
	} {
		_, _, err := run(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, search.ErrReported) {
			t.Errorf("%q: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
	if _, errOut, err := run(t, "-h"); !errors.Is(err, flag.ErrHelp) || !strings.Contains(errOut, "Usage: argus audit query") {
		t.Errorf("-h: %v\n%s", err, errOut)
	}
}

// TestBadInput: what cannot be read is reported with its file (and line)
// and skipped; the rest is printed and Main returns ErrReported.
func TestBadInput(t *testing.T) {
	r := newReplicas(t)
	copyTrail := func(t *testing.T, files []string) []string {
		dir := t.TempDir()
		var out []string
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, filepath.Base(f))
			os.WriteFile(p, b, 0o600)
			out = append(out, p)
		}
		return out
	}
	idsOf := func(files ...string) []string {
		var out []string
		for _, f := range files {
			for id := range fileLines(t, f) {
				out = append(out, id)
			}
		}
		slices.Sort(out) // b-00001 ... sort as the events' times do
		return out
	}

	t.Run("missing file", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "nope.jsonl")
		out, _, err := run(t, r.dirA, missing)
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) || out != "" {
			t.Fatalf("%v\n%s", err, out)
		}
	})

	t.Run("not gzip", func(t *testing.T) {
		files := copyTrail(t, r.filesB)
		os.WriteFile(files[0], []byte("not gzip at all\n"), 0o600)
		out, errOut, err := run(t, "--all", "--output", "jsonl", files[len(files)-1])
		if !errors.Is(err, search.ErrReported) || !strings.Contains(errOut, "skipped "+files[0]+": gunzip: ") || !strings.HasSuffix(errOut, "; file skipped\n") {
			t.Fatalf("%v\n%s", err, errOut)
		}
		if got, exp := ids(t, out), idsOf(files[1:]...); !slices.Equal(got, exp) {
			t.Fatalf("got %v\nwant %v", got, exp)
		}
	})

	t.Run("truncated gzip", func(t *testing.T) {
		files := copyTrail(t, r.filesB)
		b, _ := os.ReadFile(files[0])
		os.WriteFile(files[0], b[:len(b)/2], 0o600)
		out, errOut, err := run(t, "--all", "--output", "jsonl", files[len(files)-1])
		if !errors.Is(err, search.ErrReported) || !strings.Contains(errOut, "skipped "+files[0]+": line ") ||
			!strings.HasSuffix(errOut, ": unexpected EOF; rest of the file skipped\n") {
			t.Fatalf("%v\n%s", err, errOut)
		}
		got, rest := ids(t, out), idsOf(files[1:]...)
		all := idsOf(r.filesB[0])
		k := len(got) - len(rest)
		if k <= 0 || k >= len(all) || !slices.Equal(got[:k], all[:k]) || !slices.Equal(got[k:], rest) {
			t.Fatalf("got %d events: want the first of the damaged file's %d, then the %d of the rest", len(got), len(all), len(rest))
		}
	})

	t.Run("lines that are not events", func(t *testing.T) {
		files := copyTrail(t, r.filesA)
		victim := files[1]
		b, _ := os.ReadFile(victim)
		ls := bytes.SplitAfter(b, []byte("\n"))
		ls = slices.Insert(ls, 2, []byte("garbage\n"))
		ls = slices.Insert(ls, 4, []byte(`{"event_type":"mcp_operation","outcome":{"status":"error"}}`+"\n"))
		ls = slices.Insert(ls, 5, []byte(`{"timestamp":"yesterday"}`+"\n"))
		os.WriteFile(victim, bytes.Join(ls, nil), 0o600)
		out, errOut, err := run(t, "--all", "--output", "jsonl", filepath.Dir(victim))
		wantErr := "skipped " + victim + " line 3: not an audit event: invalid character 'g' looking for beginning of value\n" +
			"skipped " + victim + " line 5: not an audit event: no timestamp\n" +
			"skipped " + victim + " line 6: audit event timestamp \"yesterday\": "
		if !errors.Is(err, search.ErrReported) || !strings.HasPrefix(errOut, wantErr) || strings.Count(errOut, "\n") != 3 {
			t.Fatalf("%v\n%s\nwant\n%s", err, errOut, wantErr)
		}
		if got, exp := ids(t, out), want(r.all, 0, func(e ev) bool { return strings.HasPrefix(e.id, "a-") }); !slices.Equal(got, exp) {
			t.Fatalf("got %v\nwant %v", got, exp)
		}
	})

	t.Run("many bad lines", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "audit.jsonl")
		os.WriteFile(p, bytes.Repeat([]byte("{\n"), 25), 0o600)
		out, errOut, err := run(t, p)
		if !errors.Is(err, search.ErrReported) || strings.Count(errOut, "\n") != 11 ||
			!strings.HasSuffix(errOut, "skipped "+p+": 25 lines or parts in all (the first 10 shown)\n") || out != "TIME                      USER  BACKEND  CAPABILITY  STATUS  LATENCY\n" {
			t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
		}
	})

	t.Run("a manually gzipped backup", func(t *testing.T) {
		// A numbered trail whose oldest backups an operator gzipped by
		// hand is read with the gzipped files listed explicitly.
		files := copyTrail(t, r.filesA)
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		b, _ := os.ReadFile(files[0])
		zw.Write(b)
		zw.Close()
		os.WriteFile(files[0]+".gz", gz.Bytes(), 0o600)
		os.Remove(files[0])
		out, errOut, err := run(t, append([]string{"--all", "--output", "jsonl", files[0] + ".gz"}, files[1:]...)...)
		if got, exp := ids(t, out), want(r.all, 0, func(e ev) bool { return strings.HasPrefix(e.id, "a-") }); err != nil || errOut != "" || !slices.Equal(got, exp) {
			t.Fatalf("%v %s: got %v\nwant %v", err, errOut, got, exp)
		}
	})
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

// FuzzQuery: whatever a file holds, the query reports and skips what it
// cannot read and never panics.
func FuzzQuery(f *testing.F) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"timestamp":"2026-11-30T10:00:00Z","source":{"user_id":"a"}}` + "\n"))
	zw.Close()
	f.Add([]byte(`{"timestamp":"2026-11-30T10:00:00Z","source":{"user_id":"a"},"outcome":{"latency_ms":1e308}}`+"\n{"), false)
	f.Add(gz.Bytes(), true)
	f.Add(gz.Bytes()[:gz.Len()/2], true)
	f.Add([]byte("\x00\xff\n\n[]\n\"x\"\n{\"timestamp\":null}"), false)
	f.Fuzz(func(t *testing.T, data []byte, gzipped bool) {
		dir := t.TempDir()
		base := filepath.Join(dir, "audit.jsonl")
		os.WriteFile(base, []byte(`{"timestamp":"2026-11-30T10:00:01Z"}`+"\n"), 0o600)
		name := base + ".1"
		if gzipped {
			name = filepath.Join(dir, "audit-2026-11-30T10-00-00.000.jsonl.gz")
		}
		os.WriteFile(name, data, 0o600)
		for _, args := range [][]string{{base}, {"--output", "jsonl", "--all", dir}} {
			var o, e bytes.Buffer
			if err := search.Main(context.Background(), args, &o, &e); err != nil && !errors.Is(err, search.ErrReported) {
				t.Fatalf("%q: %v", args, err)
			}
		}
	})
}

// TestInterrupted: an interrupt before the history is read to its end is
// an error (the output is incomplete); with -follow, after it, it is the
// normal end (TestFollow).
func TestInterrupted(t *testing.T) {
	base := filepath.Join(t.TempDir(), "audit.jsonl")
	os.WriteFile(base, jsonLines(t, events("i", 0, 3, t0, time.Second)), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var o, e bytes.Buffer
	for _, follow := range []bool{false, true} {
		if err := search.Run(ctx, []string{base}, search.Options{Follow: follow}, &o, &e); err == nil || !strings.Contains(err.Error(), "interrupted") {
			t.Errorf("follow=%t: %v", follow, err)
		}
	}
}
