package logging

import (
	"context"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// Slog returns a *slog.Logger that writes through l (and therefore through
// l's redacting writer), for libraries that take slog such as the MCP SDK.
// go-hclog v1.6.3 has no slog support, so this is a small slog.Handler
// adapter: slog levels map to hclog levels (below Debug -> Trace, Debug ->
// Debug, Info -> Info, Warn -> Warn, Error and above -> Error), attributes
// are passed to hclog as key/value pairs, and groups become dotted key
// prefixes ("group.key"). A nil l yields a logger that discards everything.
// The returned logger is safe for concurrent use.
func Slog(l hclog.Logger) *slog.Logger { return SlogDemoting(l, nil) }

// SlogDemoting is Slog with the records demote picks logged at Debug at
// most: for a library's routine messages that come at a rate no operator
// wants at Info (the MCP SDK's session lines for each request of a
// stateless client). demote nil picks none.
func SlogDemoting(l hclog.Logger, demote func(slog.Record) bool) *slog.Logger {
	if l == nil {
		l = hclog.NewNullLogger()
	}
	return slog.New(&slogHandler{l: l, demote: demote})
}

type slogHandler struct {
	l      hclog.Logger
	prefix string                 // accumulated "group." prefixes
	attrs  []any                  // key/value pairs from WithAttrs, already prefixed
	demote func(slog.Record) bool // records logged at Debug at most
}

func hclogLevel(l slog.Level) hclog.Level {
	switch {
	case l < slog.LevelDebug:
		return hclog.Trace
	case l < slog.LevelInfo:
		return hclog.Debug
	case l < slog.LevelWarn:
		return hclog.Info
	case l < slog.LevelError:
		return hclog.Warn
	default:
		return hclog.Error
	}
}

func (h *slogHandler) Enabled(_ context.Context, level slog.Level) bool {
	cur := h.l.GetLevel()
	return cur != hclog.Off && hclogLevel(level) >= cur
}

func (h *slogHandler) Handle(_ context.Context, r slog.Record) error {
	level := hclogLevel(r.Level)
	if level > hclog.Debug && h.demote != nil && h.demote(r) {
		if level = hclog.Debug; h.l.GetLevel() > level {
			return nil
		}
	}
	args := make([]any, 0, len(h.attrs)+2*r.NumAttrs())
	args = append(args, h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		args = appendAttr(args, h.prefix, a)
		return true
	})
	h.l.Log(level, r.Message, args...)
	return nil
}

func (h *slogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	n.attrs = make([]any, len(h.attrs), len(h.attrs)+2*len(attrs))
	copy(n.attrs, h.attrs)
	for _, a := range attrs {
		n.attrs = appendAttr(n.attrs, h.prefix, a)
	}
	return &n
}

func (h *slogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	n.prefix = h.prefix + name + "."
	return &n
}

// appendAttr flattens a (resolving LogValuers and groups) into key/value
// pairs.
func appendAttr(args []any, prefix string, a slog.Attr) []any {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return args
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, ga := range a.Value.Group() {
			args = appendAttr(args, p, ga)
		}
		return args
	}
	return append(args, prefix+a.Key, a.Value.Any())
}
