package logging

import (
	"io"
	"os"
)

// terminalWriter is a redacting writer that remembers whether the writer
// it wraps is a terminal.
type terminalWriter struct {
	io.Writer
	term bool
}

// NewRedactingOutput is NewRedactingWriter for a command's stdout or
// stderr: IsTerminal still tells whether w is a terminal (for coloured
// diagnostics).
func NewRedactingOutput(w io.Writer, s *Secrets) io.Writer {
	return terminalWriter{Writer: NewRedactingWriter(w, s), term: IsTerminal(w)}
}

// IsTerminal reports whether w is a terminal that takes colour: a
// character device, or an output of NewRedactingOutput over one, and
// $NO_COLOR unset.
func IsTerminal(w io.Writer) bool {
	if tw, ok := w.(terminalWriter); ok {
		return tw.term
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && os.Getenv("NO_COLOR") == ""
}
