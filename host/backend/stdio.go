package backend

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	segjson "github.com/segmentio/encoding/json"

	"github.com/argusmcp/argus/host/request"
)

// stdioTransport is the SDK's CommandTransport (the same pipes, framing
// and shutdown) with the backend's stdout read through an answerFilter,
// so that the answers to Conn.Call reach their caller without the SDK's
// reader decoding them: that reader decodes every message twice, each
// time into a fresh 32 KiB buffer, which was the largest allocation left
// on a proxied call.
type stdioTransport struct {
	cmd       *exec.Cmd
	terminate time.Duration // how long Close waits after closing stdin, then after SIGTERM
	raw       *rawCalls
}

// Connect starts the command and connects to it over stdin and stdout.
func (t *stdioTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	stdout, err := t.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stdin, err := t.cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := t.cmd.Start(); err != nil {
		return nil, err
	}
	f := &answerFilter{r: bufio.NewReaderSize(stdout, answerLineMax), raw: t.raw}
	t.raw.mu.Lock()
	t.raw.stdin = stdin // an *os.File's: one write lock for Conn.Call's and the SDK's writes
	t.raw.mu.Unlock()
	// The connection is closed by closing stdin, not stdout (as the SDK's).
	tr := &mcp.IOTransport{Reader: io.NopCloser(f), Writer: &childStdin{t.cmd, stdin, t.terminate}}
	return tr.Connect(ctx)
}

// childStdin is the backend's stdin; closing it ends the backend as the
// SDK's CommandTransport does and the MCP specification asks: close its
// input, wait for it to exit, then SIGTERM, wait, then SIGKILL.
type childStdin struct {
	cmd       *exec.Cmd
	w         io.WriteCloser
	terminate time.Duration
}

func (c *childStdin) Write(p []byte) (int, error) { return c.w.Write(p) }

func (c *childStdin) Close() error {
	if err := c.w.Close(); err != nil {
		return fmt.Errorf("closing stdin: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.cmd.Wait() }()
	wait := func() (error, bool) {
		t := time.NewTimer(c.terminate)
		defer t.Stop()
		select {
		case err := <-exited:
			return err, true
		case <-t.C:
			return nil, false
		}
	}
	if err, ok := wait(); ok {
		return err
	}
	if c.cmd.Process.Signal(syscall.SIGTERM) == nil {
		if err, ok := wait(); ok {
			return err
		}
	}
	if err := c.cmd.Process.Kill(); err != nil {
		return err
	}
	if err, ok := wait(); ok {
		return err
	}
	return errors.New("unresponsive subprocess")
}

// answerLineMax is the longest line answerFilter looks into; a longer
// answer goes through the SDK's reader, and is delivered from there.
const answerLineMax = 64 << 10

// rawIDMarker is in every line that can be an answer to Conn.Call.
var rawIDMarker = []byte(`"` + rawIDPrefix)

// answerFilter hands a stdio backend's output to the SDK's reader line by
// line, keeping back the lines that are answers to Conn.Call, which it
// delivers itself. Only an answer of the plain shape (jsonrpc, id and
// result or error, nothing else) is taken; anything else goes to the SDK
// byte for byte and, if it is an answer, is delivered from there
// (observedConn), so what a backend writes is judged as before.
//
// Order is kept: an answer is taken only once every message before it has
// been read by the SDK's session (passed == rawCalls.read), so a progress
// notification or log message written before a result still reaches the
// client before it. A backend that writes a message across lines never
// meets that condition again (more lines than messages), and one that
// writes a batch (more messages than lines) is no longer looked into: all
// their answers take the SDK's path.
type answerFilter struct {
	r       *bufio.Reader
	raw     *rawCalls
	pending []byte // the rest of the line being handed to the SDK
	passed  uint64 // lines handed to the SDK whole (only the SDK's reader goroutine calls Read)
	midLine bool   // inside a line longer than the buffer
	batches bool   // the backend wrote a batch: lines and messages no longer pair
}

func (f *answerFilter) Read(p []byte) (int, error) {
	for len(f.pending) == 0 {
		if err := f.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, f.pending)
	f.pending = f.pending[n:]
	return n, nil
}

// next reads the next line, or the next part of a long one, into pending,
// or delivers it when it is an answer to take.
func (f *answerFilter) next() error {
	line, err := f.r.ReadSlice('\n')
	if !f.midLine && bytes.HasPrefix(bytes.TrimLeft(line, " \t\r"), []byte("[")) {
		f.batches = true // a batch: one line, several messages
	}
	switch {
	case err == bufio.ErrBufferFull:
		f.midLine = true
		f.pending = line
		return nil
	case err != nil && len(line) == 0:
		return err
	case err != nil:
		f.pending = line // a last line without its newline; the error comes next
		return nil
	}
	whole := !f.midLine
	f.midLine = false
	if whole && f.take(line) {
		return nil
	}
	if !whole || len(bytes.TrimSpace(line)) > 0 {
		f.passed++
	}
	f.pending = line
	return nil
}

// take delivers line to the Call waiting for it, if it is a plain answer
// to one and everything the backend wrote before it has been read.
func (f *answerFilter) take(line []byte) bool {
	if f.batches || !bytes.Contains(line, rawIDMarker) || f.passed != f.raw.read.Load() {
		return false
	}
	resp, ok := plainAnswer(line)
	return ok && f.raw.deliver(resp)
}

// plainAnswer decodes a line that is a JSON-RPC answer to Conn.Call and
// nothing else: jsonrpc "2.0", a string id Call made, and either a result
// or an error, no other member, nesting within the SDK's limit. ok is
// false for anything else, which the SDK then reads as it would have.
func plainAnswer(line []byte) (*jsonrpc.Response, bool) {
	var m struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      string          `json:"id"`
		Result  json.RawMessage `json:"result"`
		Error   *struct {
			Code    int64           `json:"code"`
			Message string          `json:"message"`
			Data    json.RawMessage `json:"data"`
		} `json:"error"`
	}
	const strict = segjson.DisallowUnknownFields | segjson.DontMatchCaseInsensitiveStructFields
	rest, err := segjson.Parse(line, &m, strict)
	if err != nil || len(bytes.TrimSpace(rest)) > 0 || m.JSONRPC != "2.0" || !strings.HasPrefix(m.ID, rawIDPrefix) ||
		(len(m.Result) > 0) == (m.Error != nil) || string(m.Result) == "null" || request.TooDeep(line, request.MaxDepth) {
		return nil, false
	}
	id, _ := jsonrpc.MakeID(m.ID)
	resp := &jsonrpc.Response{ID: id, Result: m.Result}
	if m.Error != nil {
		resp.Error = &jsonrpc.Error{Code: m.Error.Code, Message: m.Error.Message, Data: m.Error.Data}
	}
	return resp, true
}
