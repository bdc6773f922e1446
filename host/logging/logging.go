// Package logging builds the Argus gateway's go-hclog loggers.
//
// All output, text or JSON, from the root logger and every logger derived
// from it (Named, With, StandardLogger, the slog adapter) passes through ONE
// redaction layer (NewRedactingWriter) backed by a Secrets set, so that no
// resolved secret (values of the env()/file() config functions, bearer
// tokens, header values) reaches the log output in any of the encodings in
// which the logging stack can render it. See Secrets.Add for the list of
// encodings covered.
//
// Not covered: secrets transformed beyond two nested escapings, hex or
// otherwise transcoded (base64 and percent-encoding are covered), truncated,
// or split across separate Write calls to the redacting writer (hclog
// writes each entry with a single Write).
//
// RouteGlobal brings the standard log package and the OpenTelemetry error
// handler under the same logger.
package logging

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// defaultName is the root logger name used when Options.Name is empty.
const defaultName = "argus"

// Options configures New. The zero value is valid: info level, text format,
// os.Stderr, logger name "argus".
type Options struct {
	Level  string    // trace|debug|info|warn|error|off (case-insensitive); "" = info
	Format string    // text|json (case-insensitive); "" = text
	Output io.Writer // destination; nil = os.Stderr
	Name   string    // root logger name; "" = "argus"
}

// New builds the root hclog.Logger writing through a redacting writer over
// opts.Output that redacts secrets (which may keep growing via Add after New
// returns). A nil secrets means an empty set that can never grow; pass a set
// you keep a reference to. Colour is always off (ANSI codes would hide
// secrets from the matcher). JSON output uses hclog's default HTML escaping.
//
// It returns an error naming the bad value for an unknown level or format.
// The returned logger is safe for concurrent use, as are all loggers derived
// from it.
func New(opts Options, secrets *Secrets) (hclog.Logger, error) {
	level, err := ParseLevel(opts.Level)
	if err != nil {
		return nil, err
	}
	var jsonFormat bool
	switch strings.ToLower(strings.TrimSpace(opts.Format)) {
	case "", "text":
	case "json":
		jsonFormat = true
	default:
		return nil, fmt.Errorf("logging: unknown log format %q (want text or json)", opts.Format)
	}
	out := opts.Output
	if out == nil {
		out = os.Stderr
	}
	name := opts.Name
	if name == "" {
		name = defaultName
	}
	if secrets == nil {
		secrets = NewSecrets()
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       name,
		Level:      level,
		Output:     NewRedactingWriter(out, secrets),
		JSONFormat: jsonFormat,
		Color:      hclog.ColorOff,
	}), nil
}

// ParseLevel maps the config strings trace, debug, info, warn, error and off
// (case-insensitive, surrounding white space ignored) to hclog levels; "off"
// maps to hclog.Off and "" to hclog.Info (the default). Any other value is
// an error naming it.
func ParseLevel(s string) (hclog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "info":
		return hclog.Info, nil
	case "trace":
		return hclog.Trace, nil
	case "debug":
		return hclog.Debug, nil
	case "warn":
		return hclog.Warn, nil
	case "error":
		return hclog.Error, nil
	case "off":
		return hclog.Off, nil
	}
	return hclog.NoLevel, fmt.Errorf("logging: unknown log level %q (want trace, debug, info, warn, error or off)", s)
}

// Quiet returns a logger of warnings and errors to w, redacted with
// secrets, in the default format: what one-shot commands log.
func Quiet(w io.Writer, secrets *Secrets) hclog.Logger {
	log, _ := New(Options{Level: "warn", Output: w}, secrets)
	return log
}
