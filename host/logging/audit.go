package logging

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// AuditLevel is the numeric level of audit lines mirrored into the host
// log: between warning (30) and error (40) on the conventional scale.
// Audit lines bypass the log level: even `level = "off"` shows them.
const AuditLevel = 35

// AuditMirror returns a function that writes one audit event (its JSON)
// into the host log at the AUDIT level, in the log's format, through the
// same redaction as every other line. It is safe for concurrent use.
func AuditMirror(opts Options, secrets *Secrets) func(event []byte) {
	out := opts.Output
	if out == nil {
		out = os.Stderr
	}
	w := NewRedactingWriter(out, secrets)
	name := opts.Name
	if name == "" {
		name = defaultName
	}
	module := name + ".audit"
	jsonFormat := strings.EqualFold(strings.TrimSpace(opts.Format), "json")
	return func(event []byte) {
		now := time.Now()
		var line []byte
		if jsonFormat {
			line, _ = json.Marshal(struct {
				Level      string          `json:"@level"`
				LevelValue int             `json:"@level_value"`
				Message    string          `json:"@message"`
				Module     string          `json:"@module"`
				Timestamp  string          `json:"@timestamp"`
				Event      json.RawMessage `json:"event"`
			}{"audit", AuditLevel, "audit event", module, now.Format("2006-01-02T15:04:05.000000Z07:00"), event})
			line = append(line, '\n')
		} else {
			line = fmt.Appendf(nil, "%s [AUDIT] %s: audit event: %s\n", now.Format("2006-01-02T15:04:05.000Z0700"), module, event)
		}
		writeAll(w, line)
	}
}

func writeAll(w io.Writer, b []byte) { _, _ = w.Write(b) }
