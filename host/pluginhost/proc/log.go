package proc

import (
	"bytes"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// GoPluginLogger is the logger go-plugin gets for one plugin process.
//
// go-plugin logs two things through it: its own progress messages, which
// are demoted to debug (every failure also reaches the runtime as an error,
// which reports it with context), and the plugin's stderr, which it
// re-emits through Named(<executable>) at each line's level. Those lines go
// to Lines, named after the plugin instance rather than the executable
// (built-ins are all "argus").
type GoPluginLogger struct {
	hclog.Logger
	Lines hclog.Logger
}

func (l GoPluginLogger) Named(string) hclog.Logger     { return lineLogger{l.Lines} }
func (l GoPluginLogger) Info(msg string, args ...any)  { l.Logger.Debug(msg, args...) }
func (l GoPluginLogger) Warn(msg string, args ...any)  { l.Logger.Debug(msg, args...) }
func (l GoPluginLogger) Error(msg string, args ...any) { l.Logger.Debug(msg, args...) }

// lineLogger re-emits plugin log lines without the "timestamp" go-plugin
// adds (the host stamps its own lines).
type lineLogger struct{ hclog.Logger }

func withoutTimestamp(args []any) []any {
	for i := 0; i+1 < len(args); i += 2 {
		if k, ok := args[i].(string); ok && k == "timestamp" {
			return append(args[:i:i], args[i+2:]...)
		}
	}
	return args
}

func (l lineLogger) Named(string) hclog.Logger { return l }
func (l lineLogger) Log(level hclog.Level, msg string, args ...any) {
	l.Logger.Log(level, msg, withoutTimestamp(args)...)
}
func (l lineLogger) Trace(msg string, args ...any) { l.Logger.Trace(msg, withoutTimestamp(args)...) }
func (l lineLogger) Debug(msg string, args ...any) { l.Logger.Debug(msg, withoutTimestamp(args)...) }
func (l lineLogger) Info(msg string, args ...any)  { l.Logger.Info(msg, withoutTimestamp(args)...) }
func (l lineLogger) Warn(msg string, args ...any)  { l.Logger.Warn(msg, withoutTimestamp(args)...) }
func (l lineLogger) Error(msg string, args ...any) { l.Logger.Error(msg, withoutTimestamp(args)...) }

// StdioLogger logs what a plugin writes to stdout or stderr after the
// handshake (go-plugin forwards it), one line at a time.
type StdioLogger struct {
	Log    hclog.Logger
	Stream string
	mu     sync.Mutex
	buf    []byte
}

func (w *StdioLogger) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		if line := strings.TrimSpace(string(w.buf[:i])); line != "" {
			w.Log.Warn("plugin wrote to "+w.Stream, "line", line)
		}
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 4096 {
		w.Log.Warn("plugin wrote to "+w.Stream, "line", string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

// Tail keeps the last bytes a plugin wrote to stderr, to explain why it
// failed to start.
type Tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailSize = 2048

func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailSize {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailSize:]...)
	}
	return len(p), nil
}

// String is the last few non-empty lines.
func (t *Tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var lines []string
	for _, l := range strings.Split(string(t.buf), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	// A Go panic is explained by its first lines, not by the stack's end.
	for n, l := range lines {
		if strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") {
			lines = lines[n:min(n+2, len(lines))]
			break
		}
	}
	if len(lines) > 6 {
		lines = lines[len(lines)-6:]
	}
	return strings.Join(lines, " | ")
}
