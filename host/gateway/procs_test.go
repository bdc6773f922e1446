package gateway_test

// Helpers for end-to-end tests and benchmarks that run the real binaries
// (built once per test process by internal/testbin): the demo backend in
// streamable-HTTP mode, `argus serve` with a given configuration, and MCP
// client sessions against either. Every process and session is released by
// tb.Cleanup, also when the test fails.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/zclconf/go-cty/cty"

	"github.com/argusmcp/argus/internal/syncbuf"
	"github.com/argusmcp/argus/internal/testbin"
)

const (
	// startTimeout bounds how long a started process may take to become
	// ready (Argus connects its backends, with retries, before listening).
	startTimeout = 30 * time.Second
	// stopGrace is how long Stop waits after SIGTERM before SIGKILL:
	// longer than Argus's default server.shutdown_timeout (10s), so that a
	// graceful shutdown slowed down by a loaded machine is not cut short.
	stopGrace = 15 * time.Second
	// clientProtocolVersion is the MCP revision test clients ask for.
	clientProtocolVersion = "2025-11-25"
)

// Proc is a child process started by startProc.
type Proc struct {
	Name   string          // for messages, e.g. "argus" or "demo-server[a]"
	Cmd    *exec.Cmd       // the started command; do not Wait on it (Proc does)
	Stderr *syncbuf.Buffer // captured stderr (and stdout)

	done     chan struct{} // closed once the process has exited
	waitErr  error         // cmd.Wait's result, valid after done is closed
	stopOnce sync.Once
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err returns the process's exit error (nil for exit status 0). Only valid
// once Done is closed.
func (p *Proc) Err() error { return p.waitErr }

// Stop sends SIGTERM, sends SIGKILL if the process has not exited after
// stopGrace, and waits for it. It returns the exit error (nil for a clean
// exit). Stop is idempotent and safe to call from several goroutines.
func (p *Proc) Stop() error {
	p.stopOnce.Do(func() {
		if p.Exited() {
			return
		}
		_ = p.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(stopGrace):
			_ = p.Cmd.Process.Kill()
			<-p.done
		}
	})
	<-p.done
	return p.waitErr
}

// WaitStderr waits until re matches the captured stderr and returns the
// submatches. It fails if the process exits first or timeout passes.
func (p *Proc) WaitStderr(re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindStringSubmatch(p.Stderr.String()); m != nil {
			return m, nil
		}
		select {
		case <-p.done:
			// The final output may have arrived together with the exit.
			if m := re.FindStringSubmatch(p.Stderr.String()); m != nil {
				return m, nil
			}
			return nil, fmt.Errorf("%s exited (%v) before printing %q", p.Name, p.waitErr, re)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s did not print %q within %v", p.Name, re, timeout)
		}
	}
}

// binPath returns the path of a binary built by internal/testbin.
func binPath(tb testing.TB, name string) string {
	tb.Helper()
	path, err := testbin.Path(name)
	if err != nil {
		tb.Fatal(err)
	}
	return path
}

// startProc starts bin with args, capturing stdout and stderr, and registers
// a cleanup that stops it (SIGTERM, then SIGKILL after stopGrace) and waits
// for it. If the test failed, the cleanup logs the captured output.
func startProc(tb testing.TB, name, bin string, args ...string) *Proc {
	tb.Helper()
	p := &Proc{Name: name, Stderr: &syncbuf.Buffer{}, done: make(chan struct{})}
	p.Cmd = exec.Command(bin, args...)
	p.Cmd.Stdout = p.Stderr
	p.Cmd.Stderr = p.Stderr
	// Don't let a grandchild that inherited the output pipe block Wait.
	p.Cmd.WaitDelay = 2 * time.Second
	if err := p.Cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.waitErr = p.Cmd.Wait()
		close(p.done)
	}()
	tb.Cleanup(func() {
		if err := p.Stop(); err != nil {
			tb.Logf("%s: exit: %v", name, err)
		}
		if tb.Failed() {
			out := p.Stderr.String()
			if out == "" {
				out = "(none)"
			}
			tb.Logf("%s output:\n%s", name, out)
		}
	})
	return p
}

var demoListening = regexp.MustCompile(`listening on (http://\S+/mcp)`)

// startDemoHTTP starts the demo backend serving streamable HTTP on a free
// 127.0.0.1 port under the given -name and returns its /mcp URL.
func startDemoHTTP(tb testing.TB, name string) (url string) {
	tb.Helper()
	url, _ = startDemoHTTPProc(tb, name)
	return url
}

// startDemoHTTPProc is startDemoHTTP that also returns the process, for
// tests that stop or inspect the backend; extra arguments are passed on.
func startDemoHTTPProc(tb testing.TB, name string, extraArgs ...string) (url string, proc *Proc) {
	tb.Helper()
	args := append([]string{"-http", "127.0.0.1:0", "-name", name}, extraArgs...)
	proc = startProc(tb, "demo-server["+name+"]", binPath(tb, testbin.DemoServer), args...)
	m, err := proc.WaitStderr(demoListening, startTimeout)
	if err != nil {
		tb.Fatalf("%v\n%s", err, proc.Stderr.String())
	}
	return m[1], proc
}

// startArgus writes hcl to a configuration file in tb.TempDir(), starts
// `argus serve -config FILE` and waits until it accepts connections, i.e.
// until it has connected its backends and listens. It returns the client
// endpoint http://ADDR/mcp.
//
// The listen address is taken from the configuration's server block:
//   - no server block: `server { listen = "127.0.0.1:PORT" }` with a free
//     port is prepended;
//   - a server block without listen: listen with a free port is added to it;
//   - otherwise listen must be a literal "host:port" string with a non-zero
//     port (use testbin.FreePort).
func startArgus(tb testing.TB, hcl string) (mcpURL string, proc *Proc) {
	tb.Helper()
	return startArgusBin(tb, binPath(tb, testbin.Argus), hcl)
}

// startArgusBin is startArgus with another argus binary (a baseline build
// for a side-by-side benchmark).
func startArgusBin(tb testing.TB, bin, hcl string) (mcpURL string, proc *Proc) {
	tb.Helper()
	src, addr := withListen(tb, hcl)
	path := filepath.Join(tb.TempDir(), "argus.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		tb.Fatal(err)
	}
	proc = startProc(tb, "argus["+addr+"]", bin, "serve", "-config", path)
	// On failure, startProc's cleanup logs the process's output.
	if err := waitListening(proc, addr, startTimeout); err != nil {
		tb.Fatalf("%v\nconfig:\n%s", err, src)
	}
	if err := waitStarted(proc, addr, startTimeout); err != nil {
		proc.Stacks()
		tb.Fatalf("%v (its goroutines' stacks are at the end of its output)\nconfig:\n%s", err, src)
	}
	return "http://" + addr + "/mcp", proc
}

// Stacks ends a process that is stuck with SIGQUIT, on which a Go program
// prints every goroutine's stack and exits (its children die with it:
// Pdeathsig), and waits for it: its output then ends with what it was
// waiting on.
func (p *Proc) Stacks() {
	if !p.Exited() && p.Cmd.Process.Signal(syscall.SIGQUIT) == nil {
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
		}
	}
}

// withListen returns the configuration with a definite server.listen address
// (see startArgus) and that address.
func withListen(tb testing.TB, src string) (string, string) {
	tb.Helper()
	file, diags := hclsyntax.ParseConfig([]byte(src), "argus.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		tb.Fatalf("argus config: %v\n%s", diags, src)
	}
	for _, block := range file.Body.(*hclsyntax.Body).Blocks {
		if block.Type != "server" {
			continue
		}
		attr, ok := block.Body.Attributes["listen"]
		if !ok {
			addr := fmt.Sprintf("127.0.0.1:%d", testbin.FreePort(tb))
			at := block.OpenBraceRange.End.Byte
			return src[:at] + fmt.Sprintf("\n  listen = %q\n", addr) + src[at:], addr
		}
		v, diags := attr.Expr.Value(nil)
		if diags.HasErrors() || !v.Type().Equals(cty.String) || v.IsNull() {
			tb.Fatalf("argus config: server.listen must be a literal string for startArgus")
		}
		addr := v.AsString()
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "0" {
			tb.Fatalf("argus config: server.listen %q must be host:port with a fixed port", addr)
		}
		return src, addr
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testbin.FreePort(tb))
	return fmt.Sprintf("server {\n  listen = %q\n}\n\n", addr) + src, addr
}

// waitListening polls addr until it accepts a TCP connection, failing early
// if proc exits.
func waitListening(proc *Proc, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			if proc.Exited() { // someone else owns the port
				break
			}
			return nil
		}
		if proc.Exited() || time.Now().After(deadline) {
			break
		}
		select {
		case <-proc.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	if proc.Exited() {
		return fmt.Errorf("%s exited (%v) before accepting connections on %s", proc.Name, proc.Err(), addr)
	}
	return fmt.Errorf("%s did not accept connections on %s within %v", proc.Name, addr, timeout)
}

// waitStarted polls /manage/v1/ready at addr until argus reports its
// start-up done (every backend's first connection attempt ended), failing
// early if proc exits. The listener opens before that.
func waitStarted(proc *Proc, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var r struct {
			Starting *bool  `json:"starting"`
			Reason   string `json:"reason"`
		}
		resp, err := http.Get("http://" + addr + "/manage/v1/ready")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&r)
			resp.Body.Close()
			if err == nil && r.Starting != nil && !*r.Starting {
				return nil
			}
		}
		if proc != nil && proc.Exited() {
			return fmt.Errorf("%s exited (%v) during start-up", proc.Name, proc.Err())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("start-up of %s not done within %v: %v %s", addr, timeout, err, r.Reason)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// connect opens an MCP client session over streamable HTTP to url and
// closes it at cleanup. Each session has its own HTTP connection pool, like
// an independent client would.
func connect(tb testing.TB, url string) *mcp.ClientSession {
	tb.Helper()
	return connectVersion(tb, url, clientProtocolVersion)
}

// connectVersion is connect asking for revision version.
func connectVersion(tb testing.TB, url, version string) *mcp.ClientSession {
	tb.Helper()
	rt := http.DefaultTransport.(*http.Transport).Clone()
	rt.MaxIdleConnsPerHost = 8
	client := mcp.NewClient(&mcp.Implementation{Name: "argus-e2e-client", Version: "test"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	session, err := client.Connect(ctx,
		&mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: rt}},
		&mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		tb.Fatalf("connect %s: %v", url, err)
	}
	tb.Cleanup(func() {
		if err := session.Close(); err != nil && !errors.Is(err, context.Canceled) {
			tb.Logf("close session to %s: %v", url, err)
		}
		rt.CloseIdleConnections()
	})
	return session
}
