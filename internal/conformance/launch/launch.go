// Package launch starts the processes under test (the reference server,
// Argus) in their own process groups, waits until they serve, and stops
// them in reverse start order.
package launch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Proc is a long-running child process (a server under test). It runs in
// its own process group so that stopping it also stops anything it started
// (Argus's stdio backend), and Ctrl-C in the terminal reaches only the
// harness, which then stops its children in order.
type Proc struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error // valid once done is closed
}

// Start runs argv in dir as a new process group, its output going to the
// file at logPath.
func Start(name, logPath, dir string, argv ...string) (*Proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{name: name, cmd: cmd, log: f, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// Name is the name the process was started with.
func (p *Proc) Name() string { return p.name }

// Err is how the process exited; valid once Exited reports true.
func (p *Proc) Err() error { return p.err }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process to terminate (only the leader: Argus shuts its own
// stdio backends down), then kills the whole group after grace.
func (p *Proc) stop(grace time.Duration) {
	if p.Exited() {
		_ = signalGroup(p.cmd.Process, killSignal)
		return
	}
	_ = p.cmd.Process.Signal(termSignal)
	select {
	case <-p.done:
		// The leader is gone; make sure nothing it started outlives it.
		_ = signalGroup(p.cmd.Process, killSignal)
		return
	case <-time.After(grace):
	}
	_ = signalGroup(p.cmd.Process, killSignal)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// Set tracks every started process so that all of them are stopped on
// any exit path.
type Set struct {
	mu    sync.Mutex
	procs []*Proc
}

// Add tracks p.
func (s *Set) Add(p *Proc) {
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
}

// Stop stops the given processes (all when none are given) in reverse start
// order — a gateway before its backend — and forgets them.
func (s *Set) Stop(ps ...*Proc) {
	s.mu.Lock()
	var keep, victims []*Proc
	if len(ps) == 0 {
		victims = s.procs
	} else {
		for _, p := range s.procs {
			if contains(ps, p) {
				victims = append(victims, p)
			} else {
				keep = append(keep, p)
			}
		}
	}
	s.procs = keep
	s.mu.Unlock()
	for i := len(victims) - 1; i >= 0; i-- {
		victims[i].stop(5 * time.Second)
	}
}

// StopAll stops every tracked process.
func (s *Set) StopAll() { s.Stop() }

func contains(ps []*Proc, p *Proc) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// WaitTCP waits until addr accepts TCP connections, failing early when one
// of the watched processes exits.
func WaitTCP(ctx context.Context, addr string, timeout time.Duration, watch ...*Proc) error {
	deadline := time.Now().Add(timeout)
	for {
		for _, p := range watch {
			if p.Exited() {
				return fmt.Errorf("%s exited before %s accepted connections (%v)", p.name, addr, p.err)
			}
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not accept connections within %s: %v", addr, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ProbeTool is a tool of the reference server that every target must list
// before the suite starts; it proves the gateway's catalogue holds the backend.
const ProbeTool = "test_simple_text"

// WaitCatalogue opens an MCP session at url (initialize, initialized,
// tools/list, DELETE) until tools/list includes ProbeTool. It returns the
// last problem seen when the deadline passes.
func WaitCatalogue(ctx context.Context, url string, timeout time.Duration, watch ...*Proc) error {
	deadline := time.Now().Add(timeout)
	for {
		for _, p := range watch {
			if p.Exited() {
				return fmt.Errorf("%s exited (%v)", p.name, p.err)
			}
		}
		err := probeOnce(ctx, url)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func probeOnce(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	client := &http.Client{}
	const version = "2025-11-25"

	init := map[string]any{
		"jsonrpc": "2.0", "id": 1, "method": "initialize",
		"params": map[string]any{
			"protocolVersion": version,
			"capabilities":    map[string]any{},
			"clientInfo":      map[string]any{"name": "argus-conformance-probe", "version": "1"},
		},
	}
	hdr, res, err := rpc(ctx, client, url, nil, init)
	if err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	session := hdr.Get("Mcp-Session-Id")
	h := http.Header{}
	if session != "" {
		h.Set("Mcp-Session-Id", session)
		defer func() {
			req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodDelete, url, nil)
			if err == nil {
				req.Header = h
				if resp, err := client.Do(req); err == nil {
					resp.Body.Close()
				}
			}
		}()
	}
	var ir struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	_ = json.Unmarshal(res, &ir)
	if ir.ProtocolVersion != "" {
		h.Set("Mcp-Protocol-Version", ir.ProtocolVersion)
	}
	if _, _, err := rpc(ctx, client, url, h, map[string]any{"jsonrpc": "2.0", "method": "notifications/initialized"}); err != nil {
		return fmt.Errorf("notifications/initialized: %w", err)
	}
	_, res, err = rpc(ctx, client, url, h, map[string]any{"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": map[string]any{}})
	if err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	var tl struct {
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(res, &tl); err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	for _, t := range tl.Tools {
		if t.Name == ProbeTool {
			return nil
		}
	}
	return fmt.Errorf("tools/list has %d tools but not %q", len(tl.Tools), ProbeTool)
}

// rpc POSTs one JSON-RPC message and returns the response headers and, for
// a request, the result of the response with the same id (read from a JSON
// body or from an SSE stream).
func rpc(ctx context.Context, client *http.Client, url string, h http.Header, msg map[string]any) (http.Header, json.RawMessage, error) {
	body, _ := json.Marshal(msg)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	id, isRequest := msg["id"]
	if !isRequest {
		if resp.StatusCode/100 != 2 {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return nil, nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
		}
		return resp.Header, nil, nil
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	want, _ := json.Marshal(id)
	match := func(data []byte) (json.RawMessage, bool, error) {
		var m struct {
			ID     json.RawMessage `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &m) != nil || !bytes.Equal(m.ID, want) {
			return nil, false, nil
		}
		if m.Error != nil {
			return nil, true, fmt.Errorf("JSON-RPC error %d: %s", m.Error.Code, m.Error.Message)
		}
		return m.Result, true, nil
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		var data []byte
		for sc.Scan() {
			line := sc.Text()
			if d, ok := strings.CutPrefix(line, "data:"); ok {
				data = append(data, strings.TrimPrefix(d, " ")...)
				continue
			}
			if line == "" && len(data) > 0 {
				if res, ok, err := match(data); ok {
					return resp.Header, res, err
				}
				data = data[:0]
			}
		}
		if len(data) > 0 {
			if res, ok, err := match(data); ok {
				return resp.Header, res, err
			}
		}
		if err := sc.Err(); err != nil {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("event stream ended without a response to id %s", want)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, nil, err
	}
	if res, ok, err := match(b); ok {
		return resp.Header, res, err
	}
	return nil, nil, fmt.Errorf("unexpected response body: %.200s", b)
}

// Group makes cmd (not yet started) the leader of a new process group that
// is killed whole when cmd's context is cancelled, then waits at most 5s
// for its output.
func Group(cmd *exec.Cmd) {
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { return signalGroup(cmd.Process, killSignal) }
	cmd.WaitDelay = 5 * time.Second
}

// RunLogged runs cmd (as a Group) with stdout and stderr going to a fresh file at path.
func RunLogged(cmd *exec.Cmd, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	Group(cmd)
	return cmd.Run()
}

// Tail returns the last n lines of a file, indented.
func Tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "    (" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString("    " + l + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}
