package logging

import (
	"io"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// redactingWriter is the single redaction layer every logger writes through.
type redactingWriter struct {
	mu sync.Mutex // serialises writes so lines never interleave
	w  io.Writer
	s  *Secrets
}

// NewRedactingWriter wraps w; each Write redacts its whole argument with s
// (see Secrets.Redact) before writing it to w. Writes are serialised with a
// mutex so concurrent lines never interleave; redaction itself runs outside
// the lock and never blocks on Secrets.Add. A nil s redacts nothing.
//
// Redaction works per Write call: a secret split across two Writes cannot
// be recognised. hclog emits each log entry with exactly one Write, so this
// holds for loggers built by New.
//
// If w implements hclog.LevelWriter, the returned writer does too and
// forwards LevelWrite (after redaction).
//
// Write reports len(p) on success. If the underlying writer fails or writes
// short after redaction changed the data, the consumed input length cannot
// be derived, and 0 is reported together with the error.
func NewRedactingWriter(w io.Writer, s *Secrets) io.Writer {
	return &redactingWriter{w: w, s: s}
}

func (rw *redactingWriter) Write(p []byte) (int, error) {
	out := rw.s.Redact(p)
	rw.mu.Lock()
	n, err := rw.w.Write(out)
	rw.mu.Unlock()
	return result(p, out, n, err)
}

// LevelWrite implements hclog.LevelWriter.
func (rw *redactingWriter) LevelWrite(level hclog.Level, p []byte) (int, error) {
	lw, ok := rw.w.(hclog.LevelWriter)
	if !ok {
		return rw.Write(p)
	}
	out := rw.s.Redact(p)
	rw.mu.Lock()
	n, err := lw.LevelWrite(level, out)
	rw.mu.Unlock()
	return result(p, out, n, err)
}

func result(p, out []byte, n int, err error) (int, error) {
	if err == nil && n < len(out) {
		err = io.ErrShortWrite
	}
	switch {
	case n >= len(out):
		return len(p), err
	case len(out) == len(p) && (len(p) == 0 || &out[0] == &p[0]):
		return n, err // unredacted: offsets map 1:1
	default:
		return 0, err
	}
}
