// Package testbin builds the project's binaries once per test process so
// end-to-end tests and benchmarks run real processes.
package testbin

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

var (
	once sync.Once
	dir  string
	err  error
)

// Binaries the package builds, by name.
const (
	Argus      = "argus"
	DemoServer = "argus-demo-server"
	// FloorProxy is the least a proxy does (internal/floorproxy), the
	// floor of the benchmarks.
	FloorProxy = "argus-floor-proxy"
)

var packages = map[string]string{
	Argus:      "./host/cmd/argus",
	DemoServer: "./examples/demo-server",
	FloorProxy: "./internal/floorproxy",
}

// Path returns the path of a freshly built binary (one of the names above).
// The first call builds all of them into a temporary directory that
// Cleanup removes.
func Path(name string) (string, error) {
	once.Do(build)
	if err != nil {
		return "", err
	}
	if _, ok := packages[name]; !ok {
		return "", fmt.Errorf("testbin: unknown binary %q", name)
	}
	return filepath.Join(dir, name), nil
}

// Cleanup removes the built binaries; call it from TestMain.
func Cleanup() {
	if dir != "" {
		os.RemoveAll(dir)
	}
}

func build() {
	dir, err = os.MkdirTemp("", "argus-testbin-")
	if err != nil {
		return
	}
	root := moduleRoot()
	for name, pkg := range packages {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg)
		cmd.Dir = root
		cmd.Env = BuildEnv()
		if out, e := cmd.CombinedOutput(); e != nil {
			err = fmt.Errorf("testbin: go build %s: %v\n%s", pkg, e, out)
			return
		}
	}
}

// BuildEnv is the environment to build argus binaries in for tests: as
// `make build` and the container image build them, static, without cgo
// (CGO_ENABLED=0), unless GOFLAGS asks for the race detector, which needs
// cgo.
func BuildEnv() []string {
	env := os.Environ()
	if strings.Contains(os.Getenv("GOFLAGS"), "-race") {
		return env
	}
	return append(env, "CGO_ENABLED=0")
}

// Root is the module's root directory (holding go.mod).
func Root() string { return moduleRoot() }

// moduleRoot is the directory holding go.mod, found from this source file.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Unavailable skips t because a tool the test needs (a browser, HAProxy, a
// Docker daemon) is missing here, or fails it when ARGUS_CI is set: .ci/run
// installs every such tool, so in CI a skip would hide a suite that never
// ran behind a green result.
func Unavailable(t interface {
	Helper()
	Skipf(string, ...any)
	Fatalf(string, ...any)
}, format string, args ...any) {
	t.Helper()
	if os.Getenv("ARGUS_CI") != "" {
		t.Fatalf("ARGUS_CI is set and a required tool is missing: "+format, args...)
	}
	t.Skipf(format, args...)
}

// FreePort returns a loopback TCP port that was free a moment ago, for a
// process a test starts that must be told its port in advance (or for an
// address known to refuse connections).
func FreePort(tb interface {
	Helper()
	Fatalf(string, ...any)
}) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
