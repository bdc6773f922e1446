package verify

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/argusmcp/argus/shared/auditlog"
)

// Inputs are the files a verification reads, as Collect found them.
type Inputs struct {
	// Files are the trail's files, in no particular order.
	Files []string
	// Heads are head files named explicitly (or by a pattern).
	Heads []string
	// fromDir marks files found by listing a directory: one that is not
	// an audit file is skipped rather than reported.
	fromDir map[string]bool
}

// Collect expands the arguments of `argus audit verify`: files, quoted
// glob patterns (filepath.Match syntax) and directories (their files, not
// recursively). Head files (*.head) become Heads; lock files (*.lock) and
// head files being written (*.head.tmp) are left out. A single file
// argument brings its rotated backups along (see Files). Order does not
// matter: Verify orders by content.
func Collect(args []string) (Inputs, error) {
	in := Inputs{fromDir: map[string]bool{}}
	add := func(path string, dir bool) {
		name := filepath.Base(path)
		switch {
		case strings.HasSuffix(name, ".lock") || strings.HasSuffix(name, auditlog.HeadSuffix+".tmp"):
		case strings.HasSuffix(name, auditlog.HeadSuffix):
			if !dir {
				in.Heads = append(in.Heads, path)
			}
		default:
			in.Files = append(in.Files, path)
			if dir {
				in.fromDir[path] = true
			}
		}
	}
	for _, arg := range args {
		st, err := os.Stat(arg)
		if err != nil && strings.ContainsAny(arg, `*?[`) {
			matches, gerr := filepath.Glob(arg)
			if gerr != nil {
				return in, fmt.Errorf("pattern %q: %w", arg, gerr)
			}
			if len(matches) == 0 {
				return in, &fs.PathError{Op: "match", Path: arg, Err: fs.ErrNotExist}
			}
			for _, m := range matches {
				if st, err := os.Stat(m); err == nil && st.Mode().IsRegular() {
					add(m, false)
				}
			}
			continue
		}
		switch {
		case err != nil:
			return in, err
		case st.IsDir():
			entries, err := os.ReadDir(arg)
			if err != nil {
				return in, err
			}
			for _, e := range entries {
				if e.Type().IsRegular() {
					add(filepath.Join(arg, e.Name()), true)
				}
			}
		case len(args) == 1 && !auditlog.IsHeadFile(arg):
			files, err := auditlog.Files(arg)
			if err != nil {
				return in, err
			}
			for _, f := range files {
				add(f, false)
			}
		default:
			add(arg, false)
		}
	}
	return in, nil
}

// VerifyInputs is Verify over what Collect found: the head files named
// are checked too, and files found in directories that are not audit
// files are skipped (Report.Skipped).
func VerifyInputs(in Inputs, opts Options) (Report, error) {
	opts.Heads = append(slices.Clone(opts.Heads), in.Heads...)
	v := &verifier{opts: opts, workers: max(1, runtime.GOMAXPROCS(0))}
	return v.run(in.Files, in.fromDir)
}

// headsIn lists the head files in dir.
func headsIn(dir string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, "*"+auditlog.HeadSuffix))
	return m
}
