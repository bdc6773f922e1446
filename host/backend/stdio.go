package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	segjson "github.com/segmentio/encoding/json"
)

// stdioTransport runs a stdio backend as the SDK's CommandTransport does
// (newline-delimited JSON-RPC over the process's stdin and stdout, the
// same frame limit, the same shutdown: close stdin, then SIGTERM, then
// SIGKILL, each after TerminateDuration) with a connection of Argus's
// own. The SDK's decodes every message it reads twice more after framing
// it, each time with a fresh 32 KiB decoder buffer, and hands it over
// through a goroutine of its own: for a gateway that reads a backend
// message per call, that was most of the memory it allocated. Here a
// message is framed as the SDK frames it (encoding/json's stream decoder,
// kept for the connection) and decoded once, from its bytes, into the
// SDK's own message types.
type stdioTransport struct {
	cmd       *exec.Cmd
	terminate time.Duration
}

func (t *stdioTransport) Connect(context.Context) (mcp.Connection, error) {
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
	limit := &frameLimit{r: stdout, limit: mcp.DefaultMaxLineLength}
	return &stdioConn{cmd: t.cmd, stdin: stdin, limit: limit, dec: json.NewDecoder(limit), terminate: t.terminate}, nil
}

// stdioConn is the connection to one stdio backend process.
type stdioConn struct {
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	terminate time.Duration

	// Read is called by one goroutine at a time (the SDK's reader).
	limit *frameLimit
	dec   *json.Decoder     // framing: one JSON value per line, as the SDK's
	queue []jsonrpc.Message // the rest of a batch

	writeMu   sync.Mutex
	closeOnce sync.Once
	closeErr  error
}

func (c *stdioConn) SessionID() string { return "" }

// Read returns the next message the backend wrote. It blocks in the pipe:
// Close ends the process, which ends the read.
func (c *stdioConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(c.queue) > 0 {
		m := c.queue[0]
		c.queue = c.queue[1:]
		return m, nil
	}
	var raw json.RawMessage
	if err := c.dec.Decode(&raw); err != nil {
		return nil, err
	}
	// As the SDK: one message per line, nothing after it but the newline.
	var next [1]byte
	if n, _ := c.dec.Buffered().Read(next[:]); n > 0 && next[0] != '\n' && next[0] != '\r' {
		return nil, errors.New("invalid trailing data at the end of stream")
	}
	c.limit.reset()
	if len(raw) > 0 && raw[0] == '[' {
		var batch []json.RawMessage
		if err := segjson.Unmarshal(raw, &batch); err != nil || len(batch) == 0 {
			return nil, fmt.Errorf("unmarshaling jsonrpc batch: %v", err)
		}
		msgs := make([]jsonrpc.Message, len(batch))
		for i, b := range batch {
			m, err := decodeMessage(b)
			if err != nil {
				return nil, err
			}
			msgs[i] = m
		}
		c.queue = msgs[1:]
		return msgs[0], nil
	}
	return decodeMessage(raw)
}

// wireMessage is a JSON-RPC message as it comes off the wire.
type wireMessage struct {
	VersionTag string          `json:"jsonrpc"`
	ID         any             `json:"id,omitempty"`
	Method     json.RawMessage `json:"method,omitempty"`
	Params     json.RawMessage `json:"params,omitempty"`
	Result     json.RawMessage `json:"result,omitempty"`
	Error      *jsonrpc.Error  `json:"error,omitempty"`
}

// decodeMessage is jsonrpc.DecodeMessage (same checks, same messages)
// decoding from the bytes rather than through a fresh stream decoder.
func decodeMessage(b []byte) (jsonrpc.Message, error) {
	var w wireMessage
	if _, err := segjson.Parse(b, &w, segjson.DontMatchCaseInsensitiveStructFields); err != nil {
		return nil, fmt.Errorf("unmarshaling jsonrpc message: %w", err)
	}
	if w.VersionTag != "2.0" {
		return nil, fmt.Errorf("invalid message version tag %q; expected %q", w.VersionTag, "2.0")
	}
	id, err := jsonrpc.MakeID(w.ID)
	if err != nil {
		return nil, err
	}
	if len(w.Method) > 0 {
		var method string
		if _, err := segjson.Parse(w.Method, &method, 0); err != nil {
			return nil, fmt.Errorf("unmarshaling jsonrpc message: %w", err)
		}
		return &jsonrpc.Request{Method: method, ID: id, Params: w.Params}, nil
	}
	if !id.IsValid() {
		return nil, errors.New("JSON RPC invalid request: a response without an id")
	}
	resp := &jsonrpc.Response{ID: id, Result: w.Result}
	if w.Error != nil {
		resp.Error = w.Error
	}
	return resp, nil
}

func (c *stdioConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := jsonrpc.EncodeMessage(msg)
	if err != nil {
		return err
	}
	data = append(data, '\n')
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_, err = c.stdin.Write(data)
	return err
}

// Close ends the backend as the MCP specification asks of a stdio client:
// close its input, wait for it to exit, then SIGTERM, then SIGKILL.
func (c *stdioConn) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.close() })
	return c.closeErr
}

func (c *stdioConn) close() error {
	if err := c.stdin.Close(); err != nil {
		return fmt.Errorf("closing stdin: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.cmd.Wait() }()
	wait := func() (error, bool) {
		select {
		case err := <-exited:
			return err, true
		case <-time.After(c.terminate):
			return nil, false
		}
	}
	if err, ok := wait(); ok {
		return err
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err == nil {
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

// errFrameTooLarge is the error for a message longer than the frame limit.
var errFrameTooLarge = errors.New("inbound JSON-RPC frame exceeded the configured maximum line length")

// frameLimit bounds the bytes read for one message, as the SDK does.
type frameLimit struct {
	r            io.Reader
	limit, count int
}

func (f *frameLimit) Read(p []byte) (int, error) {
	if f.count >= f.limit {
		return 0, errFrameTooLarge
	}
	if len(p) > f.limit-f.count {
		p = p[:f.limit-f.count]
	}
	n, err := f.r.Read(p)
	f.count += n
	return n, err
}

func (f *frameLimit) reset() { f.count = 0 }
