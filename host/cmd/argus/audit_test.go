package main_test

// End-to-end tests of `argus audit verify` with the real argus binary, on
// audit files written by the jsonl sink plugin.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/argusmcp/argus/plugins/jsonl"
	"github.com/argusmcp/argus/sdk/sdktest"
	"github.com/argusmcp/argus/shared/auditlog"
)

const testAuditKey = "0123456789abcdef0123456789abcdef"

// auditLog writes n events through the jsonl sink plugin, rotating into
// several files, and returns the audit file's path and all its files.
func auditLog(t *testing.T, n int, extra string) (string, []string) {
	t.Helper()
	base := filepath.Join(t.TempDir(), "logs", "audit.jsonl")
	s := sdktest.Start(t, jsonl.Plugin()).Sink(fmt.Sprintf("file = %q\nmax_size_mb = 0.05\nbackup_count = 50\n%s", base, extra))
	ctx := context.Background()
	for first := 1; first <= n; first += 256 {
		if _, err := s.Write(ctx, sdktest.AuditEvents(uint64(first), min(256, n-first+1))...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	files, err := auditlog.Files(base)
	if err != nil || len(files) < 3 {
		t.Fatalf("files %v, %v", files, err)
	}
	return base, files
}

func TestE2EAuditVerify(t *testing.T) {
	base, files := auditLog(t, 2000, "")
	keyedBase, _ := auditLog(t, 300, fmt.Sprintf("hmac_key = %q", testAuditKey))
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte(testAuditKey+"\n"), 0o600)
	emptyKey := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(emptyKey, []byte("\n"), 0o600)
	wrongKey := filepath.Join(t.TempDir(), "wrong")
	os.WriteFile(wrongKey, []byte("not the key, but long enough"), 0o600)

	tampered, tamperedFiles := auditLog(t, 1000, "")
	victim := tamperedFiles[1]
	b, _ := os.ReadFile(victim)
	lines := bytes.SplitAfter(b, []byte("\n"))
	rec, _ := auditlog.Parse(lines[4])
	lines[4] = bytes.Replace(lines[4], []byte(`"status":"success"`), []byte(`"status":"error"`), 1)
	os.WriteFile(victim, bytes.Join(lines, nil), 0o600)

	for _, tc := range []struct {
		name      string
		env       string
		args      []string
		code      int
		stdout    []string
		stderr    string
		notStdout string
	}{
		{name: "base file brings its backups", args: []string{base}, code: 0, stdout: []string{
			fmt.Sprintf("OK: 2000 records, seq 1-2000, %d files\n", len(files)),
			"head: seq 2000 matches " + base + ".head",
		}, notStdout: "starts at"},
		{name: "explicit files", args: files, code: 0, stdout: []string{fmt.Sprintf("OK: 2000 records, seq 1-2000, %d files\n", len(files))}},
		{name: "files in reverse order", args: reversed(files), code: 0, stdout: []string{fmt.Sprintf("OK: 2000 records, seq 1-2000, %d files\n", len(files))}},
		{name: "directory", args: []string{filepath.Dir(base)}, code: 0, stdout: []string{fmt.Sprintf("OK: 2000 records, seq 1-2000, %d files\n", len(files)), "matches"}},
		{name: "quoted pattern", args: []string{base + "*"}, code: 0, stdout: []string{"OK: 2000 records", "matches"}},
		{name: "oldest file left out", args: files[1:], code: 0, stdout: []string{
			"OK: ", "The verified chain starts at seq ", files[1] + " line 1): older records were rotated away or not given.",
		}},
		{name: "altered record", args: []string{tampered}, code: 1, stdout: []string{
			fmt.Sprintf("FAIL: %s line 5: record altered (hash mismatch at seq %d)\n", victim, rec.Integrity.Seq),
		}},
		{name: "key file", args: []string{"-key-file", keyFile, keyedBase}, code: 0, stdout: []string{"OK: 300 records, seq 1-300"}},
		{name: "key in the environment", env: testAuditKey, args: []string{keyedBase}, code: 0, stdout: []string{"OK: 300 records"}},
		{name: "key file wins over the environment", env: "wrong key, long enough", args: []string{"-key-file", keyFile, keyedBase}, code: 0, stdout: []string{"OK: 300 records"}},
		{name: "no key", args: []string{keyedBase}, code: 1, stdout: []string{"line 1: record altered (hash mismatch at seq 1)"},
			stderr: "hint: the very first record does not verify: if the sink has an hmac_key, pass it with -key-file or $ARGUS_AUDIT_HMAC_KEY"},
		{name: "wrong key", args: []string{"-key-file", wrongKey, keyedBase}, code: 1, stdout: []string{"record altered (hash mismatch at seq 1)"},
			stderr: "is it the key the sink was configured with?"},
		{name: "empty key file", args: []string{"-key-file", emptyKey, keyedBase}, code: 2, stderr: "argus: audit verify: the key in " + emptyKey + " is empty\n"},
		{name: "missing key file", args: []string{"-key-file", emptyKey + ".nope", base}, code: 2, stderr: "argus: audit verify: -key-file: open " + emptyKey + ".nope: no such file or directory\n"},
		{name: "missing file", args: []string{base + ".nope"}, code: 2, stderr: " " + base + ".nope: no such file or directory\n"},
		{name: "missing file among several", args: []string{files[0], base + ".nope"}, code: 2, stderr: "argus: audit verify: stat " + base + ".nope: no such file or directory\n"},
		{name: "no file", args: nil, code: 2, stderr: "argus: audit verify: no FILE given"},
		{name: "bad flag", args: []string{"-frob"}, code: 2, stderr: "flag provided but not defined: -frob"},
		{name: "help", args: []string{"-h"}, code: 0, stderr: "Usage: argus audit verify [-key-file FILE] [-head FILE] [-json] FILE|DIR|PATTERN..."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("ARGUS_AUDIT_HMAC_KEY", tc.env)
			out, errOut, code := runArgus(t, append([]string{"audit", "verify"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out, s) {
					t.Errorf("stdout:\n%s\nwant %q in it", out, s)
				}
			}
			if tc.notStdout != "" && strings.Contains(out, tc.notStdout) {
				t.Errorf("stdout:\n%s\nwant no %q", out, tc.notStdout)
			}
			if !strings.Contains(errOut, tc.stderr) || tc.stderr == "" && errOut != "" {
				t.Errorf("stderr:\n%s\nwant %q", errOut, tc.stderr)
			}
		})
	}
	// Usage errors exit 2: 1 means a problem in the trail, which a script
	// alerts on.
	t.Run("audit without a subcommand", func(t *testing.T) {
		if _, errOut, code := runArgus(t, "audit"); code != 2 || !strings.Contains(errOut, "argus audit verify") ||
			!strings.Contains(errOut, "argus audit query") {
			t.Fatalf("exit %d, stderr %s", code, errOut)
		}
		if _, errOut, code := runArgus(t, "audit", "frob"); code != 2 || !strings.Contains(errOut, `unknown subcommand "frob"`) {
			t.Fatalf("exit %d, stderr %s", code, errOut)
		}
		if out, _, code := runArgus(t, "audit", "-h"); code != 0 || !strings.Contains(out, "argus audit query") {
			t.Fatalf("audit -h: exit %d, stdout %s", code, out)
		}
	})
}

// TestE2EAuditVerifyMissingRecord: a deleted line is reported as missing
// with its place.
func TestE2EAuditVerifyMissingRecord(t *testing.T) {
	base, files := auditLog(t, 600, "")
	b, _ := os.ReadFile(files[1])
	lines := bytes.SplitAfter(b, []byte("\n"))
	os.WriteFile(files[1], bytes.Join(append(lines[:2:2], lines[3:]...), nil), 0o600) // delete line 3
	rec, _ := auditlog.Parse(lines[3])
	out, errOut, code := runArgus(t, "audit", "verify", base)
	want := fmt.Sprintf("FAIL: %s line 3: record missing (seq %d, before seq %d)\n", files[1], rec.Integrity.Seq-1, rec.Integrity.Seq)
	if code != 1 || !strings.HasSuffix(out, want) || errOut != "" {
		t.Fatalf("exit %d, want 1 and %q\n%s%s", code, want, out, errOut)
	}
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

// TestE2EAuditVerifyReproducer: `argus audit verify logs/audit.jsonl*` as
// the shell expands it (head and lock files included) answers OK in any
// argument order; -json summarizes per chain; a trail whose newest file
// was deleted fails against its head file, exit 1.
func TestE2EAuditVerifyReproducer(t *testing.T) {
	base, files := auditLog(t, 1500, "")
	glob, err := filepath.Glob(base + "*")
	if err != nil || len(glob) != len(files)+2 { // + .head and .lock
		t.Fatalf("glob %q, %v", glob, err)
	}
	for i, args := range [][]string{glob, reversed(glob), append(glob[len(glob)/2:], glob[:len(glob)/2]...)} {
		out, errOut, code := runArgus(t, append([]string{"audit", "verify"}, args...)...)
		if code != 0 || !strings.Contains(out, "OK: 1500 records, seq 1-1500") || !strings.Contains(out, "head: seq 1500 matches") || errOut != "" {
			t.Fatalf("order %d: exit %d\n%s%s", i, code, out, errOut)
		}
	}

	out, _, code := runArgus(t, "audit", "verify", "-json", filepath.Dir(base))
	var sum struct {
		Result string
		Chains []struct {
			Chain, Result string
			Records       int
			Files         []string
			FirstSeq      uint64 `json:"first_seq"`
			LastSeq       uint64 `json:"last_seq"`
			FirstTime     string `json:"first_time"`
			LastTime      string `json:"last_time"`
			Head          struct{ Result string }
			Problem       *struct {
				Kind, File string
				Line       int
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil || code != 0 || sum.Result != "ok" || len(sum.Chains) != 1 {
		t.Fatalf("exit %d, %v\n%s", code, err, out)
	}
	c := sum.Chains[0]
	if c.Records != 1500 || c.FirstSeq != 1 || c.LastSeq != 1500 || len(c.Files) != len(files) || c.FirstTime == "" || c.LastTime == "" || c.Head.Result != "matches" || c.Chain == "" || c.Problem != nil {
		t.Fatalf("summary %+v", c)
	}

	last := files[len(files)-1]
	os.Remove(last)
	out, errOut, code := runArgus(t, "audit", "verify", base+".1", base+".2", base+".head")
	if code != 1 || !strings.Contains(out, "FAIL: ") || !strings.Contains(out, "-1500): the head file "+base+".head says the chain reached seq 1500") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	out, _, code = runArgus(t, "audit", "verify", "-json", filepath.Dir(base))
	if code != 1 || json.Unmarshal([]byte(out), &sum) != nil || sum.Result != "problem" || sum.Chains[0].Problem == nil || sum.Chains[0].Problem.Kind != "truncated" {
		t.Fatalf("exit %d\n%s", code, out)
	}
}
