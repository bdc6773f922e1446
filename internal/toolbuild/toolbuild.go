// Package toolbuild builds the test tools that live in their own Go
// modules under test/ (the OpenTelemetry Collector, Ory Hydra) into
// <repo>/.tools/bin, the same files the GNUmakefile's targets produce,
// so `go test` works from a clean clone without `make`.
//
// A tool is rebuilt when its binary is missing or older than any *.go,
// go.mod or go.sum in its module directory; at most once per test process,
// and concurrent test processes serialise on a lock file so only one of
// them compiles. Long builds report progress on stderr.
//
// The package uses the standard library only.
package toolbuild

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Tool describes one tool module.
type Tool struct {
	// Name is the binary's file name under .tools/bin.
	Name string
	// Dir is the module directory, relative to the repository root
	// (e.g. "test/otelcol").
	Dir string
	// Package is what to build inside Dir (default ".").
	Package string
	// Tags are build tags (-tags).
	Tags string
	// CGO builds with CGO_ENABLED=1 (sqlite drivers need it).
	CGO bool
	// Progress, when set, reports compiled packages on stderr every
	// ProgressEvery (default 20s) during a build.
	Progress      bool
	ProgressEvery time.Duration
}

var (
	mu     sync.Mutex
	builds = map[string]*result{}
)

type result struct {
	once sync.Once
	path string
	err  error
}

// Build returns the path of t's binary under root/.tools/bin, building it
// first if it is missing or stale.
func Build(tb testing.TB, root string, t Tool) string {
	tb.Helper()
	mu.Lock()
	r := builds[t.Name]
	if r == nil {
		r = &result{}
		builds[t.Name] = r
	}
	mu.Unlock()
	r.once.Do(func() { r.path, r.err = build(tb, root, t) })
	if r.err != nil {
		tb.Fatalf("toolbuild %s: %v", t.Name, r.err)
	}
	return r.path
}

func build(tb testing.TB, root string, t Tool) (string, error) {
	src := filepath.Join(root, t.Dir)
	binDir := filepath.Join(root, ".tools", "bin")
	bin := filepath.Join(binDir, t.Name)
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	if ok, err := upToDate(bin, src); err != nil || ok {
		return bin, err
	}
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", err
	}
	unlock, err := lockFile(bin+".lock", 30*time.Minute)
	if err != nil {
		return "", err
	}
	defer unlock()
	// Another process may have built it while this one waited for the lock.
	if ok, err := upToDate(bin, src); err != nil || ok {
		return bin, err
	}
	msg := fmt.Sprintf("toolbuild: building %s from %s (a first build can take minutes) …", t.Name, t.Dir)
	tb.Log(msg)
	if t.Progress {
		fmt.Fprintln(os.Stderr, msg)
	}
	start := time.Now()
	tmp := fmt.Sprintf("%s.tmp-%d", bin, os.Getpid())
	args := []string{"build", "-o", tmp}
	if t.Tags != "" {
		args = append(args, "-tags", t.Tags)
	}
	if t.Progress {
		args = append(args, "-v")
	}
	pkg := t.Package
	if pkg == "" {
		pkg = "."
	}
	cmd := exec.Command(GoCommand(), append(args, pkg)...)
	cmd.Dir = src
	cmd.Env = os.Environ()
	if t.CGO {
		cmd.Env = append(cmd.Env, "CGO_ENABLED=1")
	}
	out, err := run(cmd, t, start)
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("go build in %s: %v\n%s", src, err, out)
	}
	// Rename is atomic, so a concurrent reader never runs a half-written file.
	if err := os.Rename(tmp, bin); err != nil {
		os.Remove(tmp)
		return "", err
	}
	done := fmt.Sprintf("toolbuild: built %s in %s", bin, time.Since(start).Round(time.Second))
	tb.Log(done)
	if t.Progress {
		fmt.Fprintln(os.Stderr, done)
	}
	return bin, nil
}

// run runs cmd and returns its output; with t.Progress it counts the
// package names `go build -v` prints and reports the count periodically.
func run(cmd *exec.Cmd, t Tool, start time.Time) ([]byte, error) {
	if !t.Progress {
		return cmd.CombinedOutput()
	}
	every := t.ProgressEvery
	if every <= 0 {
		every = 20 * time.Second
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var out strings.Builder
	var n atomic.Int64
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, " ") || strings.HasPrefix(line, "#") {
				out.WriteString(line + "\n") // an error or warning, not a package name
				continue
			}
			n.Add(1)
		}
		io.Copy(io.Discard, pr)
	}()
	stop := make(chan struct{})
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				fmt.Fprintf(os.Stderr, "toolbuild: building %s … %s, %d packages compiled\n", t.Name, time.Since(start).Round(time.Second), n.Load())
			}
		}
	}()
	err := cmd.Run()
	pw.Close()
	<-scanned
	close(stop)
	return []byte(out.String()), err
}

// upToDate reports whether bin exists and is newer than every *.go,
// go.mod and go.sum in src: the same rule as the GNUmakefile's targets.
func upToDate(bin, src string) (bool, error) {
	bi, err := os.Stat(bin)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return false, fmt.Errorf("tool sources: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".go") || name == "go.mod" || name == "go.sum") {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return false, err
		}
		if fi.ModTime().After(bi.ModTime()) {
			return false, nil
		}
	}
	return true, nil
}

// lockFile takes an exclusive lock by creating path, waiting while another
// process holds it. A lock older than stale is taken to be left by a dead
// process and removed.
func lockFile(path string, stale time.Duration) (unlock func(), err error) {
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(f, "%d\n", os.Getpid())
			f.Close()
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		if fi, err := os.Stat(path); err == nil && time.Since(fi.ModTime()) > stale {
			os.Remove(path)
			continue
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// GoCommand is the go command that runs this test, else the one on PATH.
func GoCommand() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
