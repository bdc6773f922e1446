package logging

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
	"go.opentelemetry.io/otel"
)

// canaries are secrets chosen to exercise every escaping rule. Each contains
// distinctive alphanumeric runs ("fragments") that must never reach output,
// whatever the encoding.
var canaries = []struct{ name, value string }{
	{"plain", "plainKx7qSecret"},
	{"quote", `qt9Z"inZide"W4v`},
	{"backslash", `bs3K\pa7h\Y8nw\`},
	{"newline", "nl5Mfirst\nsec0ndJ2p"},
	{"unicode", `Ux4päss"wörd\üZq8x`},
	{"emoji", "eMj9🔑oJi7😀Tk6w"},
	{"html", "h7Bx<tag>&Vb2q"},
	{"linesep", "Ls8Rw\u2028S3pq\u2029Qz4k"},
	{"control", "Ct1Y\tH3re\x01Xq9z"},
}

func canaryValues() []string {
	var vs []string
	for _, c := range canaries {
		vs = append(vs, c.value)
	}
	return vs
}

// ---------------------------------------------------------------------------
// Independent encoders (test only; deliberately not sharing code with the
// implementation).

func jsonHTML(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b[1 : len(b)-1])
}

func jsonNoHTML(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(err)
	}
	out := strings.TrimSuffix(buf.String(), "\n")
	return out[1 : len(out)-1]
}

// manualUEscape writes every non-ASCII rune of a JSON string body as \uXXXX,
// splitting runes above U+FFFF into a UTF-16 surrogate pair by hand.
func manualUEscape(body string) string {
	var b strings.Builder
	for _, r := range body {
		switch {
		case r < 0x80:
			b.WriteRune(r)
		case r > 0xFFFF:
			r -= 0x10000
			fmt.Fprintf(&b, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

func quoteBody(s string) string      { q := strconv.Quote(s); return q[1 : len(q)-1] }
func quoteASCIIBody(s string) string { q := strconv.QuoteToASCII(s); return q[1 : len(q)-1] }

// hclogTextForm asks hclog itself (no redaction) how its text format renders
// s inside a field value: quoted/escaped, or as a multi-line block.
func hclogTextForm(s string) string {
	var buf bytes.Buffer
	hclog.New(&hclog.LoggerOptions{Output: &buf, DisableTime: true}).Info("m", "k", "MKA"+s+"MKB")
	out := buf.String()
	return out[strings.Index(out, "MKA")+3 : strings.LastIndex(out, "MKB")]
}

var testEncoders = []func(string) string{
	func(s string) string { return s },
	jsonHTML,
	jsonNoHTML,
	func(s string) string { return manualUEscape(jsonHTML(s)) },
	func(s string) string { return manualUEscape(jsonNoHTML(s)) },
	quoteBody,
	quoteASCIIBody,
	hclogTextForm,
	url.QueryEscape,
}

// encodings returns every form in which secret can appear in output: each
// encoder above and every composition of two of them, longest first.
func encodings(secret string) []string {
	set := map[string]bool{}
	for _, inner := range testEncoders {
		for _, outer := range testEncoders {
			set[outer(inner(secret))] = true
		}
	}
	var out []string
	for e := range set {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// fragments returns the alphanumeric runs of at least 4 bytes in secret.
func fragments(secret string) []string {
	return slices.DeleteFunc(strings.FieldsFunc(secret, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	}), func(f string) bool { return len(f) < 4 })
}

func TestEncodingsHelperSanity(t *testing.T) {
	// Spot checks that the helper really produces the encodings the task
	// lists, so the assertions built on it are not vacuous.
	want := map[string][]string{
		`qt9Z"inZide"W4v`:           {`qt9Z\"inZide\"W4v`},
		`bs3K\pa7h\Y8nw\`:           {`bs3K\\pa7h\\Y8nw\\`},
		"nl5Mfirst\nsec0ndJ2p":      {`nl5Mfirst\nsec0ndJ2p`, "nl5Mfirst\n  | sec0ndJ2p"},
		`Ux4päss"wörd\üZq8x`:        {`Ux4p\u00e4ss\"w\u00f6rd\\\u00fcZq8x`, `Ux4päss\"wörd\üZq8x`},
		"eMj9🔑oJi7😀Tk6w":            {`eMj9\ud83d\udd11oJi7\ud83d\ude00Tk6w`, `eMj9\U0001f511oJi7\U0001f600Tk6w`},
		"h7Bx<tag>&Vb2q":            {`h7Bx\u003ctag\u003e\u0026Vb2q`},
		"Ls8Rw\u2028S3pq\u2029Qz4k": {`Ls8Rw\u2028S3pq\u2029Qz4k`},
		"Ct1Y\tH3re\x01Xq9z":        {`Ct1Y\tH3re\u0001Xq9z`, `Ct1Y\tH3re\x01Xq9z`},
	}
	for secret, forms := range want {
		encs := encodings(secret)
		for _, f := range forms {
			if !slices.Contains(encs, f) {
				t.Errorf("encodings(%q) lacks %q", secret, f)
			}
		}
	}
}

// TestRedactEveryEncoding checks the Secrets matcher directly against every
// independently computed encoding of every canary.
func TestRedactEveryEncoding(t *testing.T) {
	s := NewSecrets(canaryValues()...)
	for _, c := range canaries {
		for _, enc := range encodings(c.value) {
			for _, wrap := range [][2]string{{"", ""}, {"pre ", " post"}, {"x=", "\n"}} {
				in := wrap[0] + enc + wrap[1]
				want := wrap[0] + redactedMarker + wrap[1]
				if got := s.RedactString(in); got != want {
					t.Errorf("%s: RedactString(%q) = %q, want %q", c.name, in, got, want)
				}
			}
		}
	}
}

// ---------------------------------------------------------------------------
// End-to-end through New, both formats.

type upstreamCfg struct {
	Name    string
	Token   string
	Headers map[string]string
	Nested  struct{ Env []string }
}

type scenario struct {
	name string
	log  func(l hclog.Logger, s string)
}

var scenarios = []scenario{
	{"message", func(l hclog.Logger, s string) { l.Trace("connecting with " + s) }},
	{"field", func(l hclog.Logger, s string) { l.Debug("auth", "token", s) }},
	{"bearer", func(l hclog.Logger, s string) { l.Info("request", "authorization", "Bearer "+s) }},
	{"struct", func(l hclog.Logger, s string) {
		cfg := upstreamCfg{Name: "gh", Token: s, Headers: map[string]string{"Authorization": "Bearer " + s}}
		cfg.Nested.Env = []string{"TOKEN=" + s}
		l.Warn("config", "upstream", cfg, "ptr", &cfg)
	}},
	{"map", func(l hclog.Logger, s string) {
		l.Info("headers", "h", map[string]any{"x-api-key": s, "inner": map[string]string{"k": "v " + s}})
	}},
	{"slice", func(l hclog.Logger, s string) { l.Info("exec", "argv", []string{"--token", s}, "any", []any{s, 1}) }},
	{"error", func(l hclog.Logger, s string) {
		l.Error("failed", "error", fmt.Errorf("upstream rejected credentials %s: %w", s, io.EOF))
	}},
	{"error_q", func(l hclog.Logger, s string) {
		l.Error("failed", "err", fmt.Errorf("bad header value %q", s), "wrapped", fmt.Errorf("outer: %w", errors.New(s)))
	}},
	{"hclog_helpers", func(l hclog.Logger, s string) { l.Info("h", "q", hclog.Quote(s), "f", hclog.Fmt("tok=%s;", s)) }},
	{"json_payload", func(l hclog.Logger, s string) {
		body, _ := json.Marshal(map[string]string{"token": s})
		l.Debug("rpc body "+string(body), "payload", string(body))
	}},
	{"url", func(l hclog.Logger, s string) { l.Info("dial", "url", "https://h.example/x?key="+url.QueryEscape(s)) }},
	{"named_with", func(l hclog.Logger, s string) { l.Named("upstream").With("secret", s).Info("derived") }},
	{"stdlog", func(l hclog.Logger, s string) {
		l.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}).Printf("[WARN] std %s", s)
	}},
	{"slog", func(l hclog.Logger, s string) {
		Slog(l).Debug("slog msg "+s, "token", s,
			slog.Group("grp", slog.String("inner", "Bearer "+s)),
			slog.Any("err", fmt.Errorf("e %q", s)))
	}},
	{"slog_with", func(l hclog.Logger, s string) {
		Slog(l).With("k", s).WithGroup("g").Log(context.Background(), slog.LevelDebug-4, "trace-ish", "v", []string{s})
	}},
}

func TestLoggerRedactsEverywhere(t *testing.T) {
	encs := map[string][]string{}
	for _, c := range canaries {
		encs[c.name] = encodings(c.value)
	}
	for _, format := range []string{"text", "json"} {
		for _, c := range canaries {
			for _, sc := range scenarios {
				t.Run(format+"/"+c.name+"/"+sc.name, func(t *testing.T) {
					// Oracle: without redaction, removing the known encodings
					// must remove every fragment of the secret. This proves
					// encodings() describes how the output really renders it.
					var raw bytes.Buffer
					l, err := New(Options{Level: "trace", Format: format, Output: &raw}, nil)
					if err != nil {
						t.Fatal(err)
					}
					sc.log(l, c.value)
					stripped := raw.String()
					for _, e := range encs[c.name] {
						stripped = strings.ReplaceAll(stripped, e, "")
					}
					for _, f := range fragments(c.value) {
						if strings.Contains(stripped, f) {
							t.Fatalf("oracle: unredacted output renders the secret in an unknown encoding:\n%s", raw.String())
						}
					}
					if stripped == raw.String() {
						t.Fatalf("oracle: secret not found in unredacted output:\n%s", raw.String())
					}

					var buf bytes.Buffer
					l, err = New(Options{Level: "trace", Format: format, Output: &buf}, NewSecrets(canaryValues()...))
					if err != nil {
						t.Fatal(err)
					}
					sc.log(l, c.value)
					out := buf.String()
					if !strings.Contains(out, redactedMarker) {
						t.Fatalf("no %s in output:\n%s", redactedMarker, out)
					}
					for _, other := range canaries {
						for _, e := range encs[other.name] {
							if strings.Contains(out, e) {
								t.Errorf("output contains encoding %q of %s:\n%s", e, other.name, out)
							}
						}
					}
					for _, f := range fragments(c.value) {
						if strings.Contains(out, f) {
							t.Errorf("output contains fragment %q:\n%s", f, out)
						}
					}
					if format == "json" {
						sc := bufio.NewScanner(strings.NewReader(out))
						for sc.Scan() {
							var m map[string]any
							if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
								t.Errorf("invalid JSON line after redaction: %v\n%s", err, sc.Text())
							}
						}
					}
				})
			}
		}
	}
}

// ---------------------------------------------------------------------------
// Secrets semantics.

func TestSecretsSemantics(t *testing.T) {
	tests := []struct {
		name    string
		secrets []string
		in      string
		want    string
	}{
		{"empty ignored", []string{""}, "nothing here", "nothing here"},
		{"short ignored", []string{"a", "ab", "  x  "}, "a ab x", "a ab x"},
		{"three bytes kept", []string{"abc"}, "xabcx", "x[REDACTED]x"},
		{"contained secret", []string{"secret", "supersecretvalue"}, "a supersecretvalue b secret", "a [REDACTED] b [REDACTED]"},
		{"overlapping secrets", []string{"zab", "abcdef"}, "xxzabcdefyy", "xx[REDACTED]yy"},
		{"adjacent repeats", []string{"tok123"}, "tok123tok123", "[REDACTED][REDACTED]"},
		{"trailing backslash keeps newline", []string{`abc\`}, "x abc\\\n", "x [REDACTED]\n"},
		{"trailing newline trimmed too", []string{"tok123\n"}, "Bearer tok123.", "Bearer [REDACTED]."},
		{"no match returns input", []string{"zzzzzz"}, "plain line\n", "plain line\n"},
		{"json escape not cut at start", []string{"nopassword"}, `{"m":"line\nopassword"}`, `{"m":"line[REDACTED]"}`},
		{"json escape not cut at end", []string{`abc\`}, `{"m":"xabc\"y"}`, `{"m":"x[REDACTED]y"}`},
		{"json unicode escape not cut", []string{"00e9ab"}, `{"m":"\u00e9ab"}`, `{"m":"[REDACTED]"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSecrets(tt.secrets...)
			if got := s.RedactString(tt.in); got != tt.want {
				t.Errorf("RedactString(%q) = %q, want %q", tt.in, got, tt.want)
			}
			in := []byte(tt.in)
			got := s.Redact(in)
			if string(got) != tt.want {
				t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if string(in) != tt.in {
				t.Errorf("Redact modified its input")
			}
		})
	}

	var nilSet *Secrets
	if got := nilSet.RedactString("abc"); got != "abc" {
		t.Errorf("nil set redacted: %q", got)
	}
	var zero Secrets
	zero.Add("abcdef")
	if got := zero.RedactString("xabcdefx"); got != "x[REDACTED]x" {
		t.Errorf("zero-value set: %q", got)
	}
}

func TestRedactNoMatchDoesNotAllocate(t *testing.T) {
	s := NewSecrets("Secret-One-123", "Secret-Two-456")
	line := []byte("2026-01-01T00:00:00.000Z [INFO]  argus: nothing sensitive here: n=1\n")
	allocs := testing.AllocsPerRun(100, func() { _ = s.Redact(line) })
	if allocs != 0 {
		t.Errorf("Redact without matches allocated %v times", allocs)
	}
}

func TestAddAfterCreation(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			secrets := NewSecrets()
			l, err := New(Options{Format: format, Output: &buf}, secrets)
			if err != nil {
				t.Fatal(err)
			}
			const tok = "late-added-TOKEN-9f8e"
			l.Info("before", "tok", tok)
			if !strings.Contains(buf.String(), tok) {
				t.Fatalf("expected secret before Add (control):\n%s", buf.String())
			}
			buf.Reset()
			secrets.Add(tok)
			l.Info("after", "tok", tok)
			Slog(l).Info("after slog", "tok", tok)
			if strings.Contains(buf.String(), tok) || strings.Count(buf.String(), redactedMarker) != 2 {
				t.Fatalf("Add did not take effect:\n%s", buf.String())
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Levels, formats, defaults.

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in      string
		want    hclog.Level
		wantErr bool
	}{
		{"", hclog.Info, false},
		{"trace", hclog.Trace, false},
		{"debug", hclog.Debug, false},
		{"info", hclog.Info, false},
		{"warn", hclog.Warn, false},
		{"error", hclog.Error, false},
		{"off", hclog.Off, false},
		{" WARN ", hclog.Warn, false},
		{"verbose", hclog.NoLevel, true},
		{"warning", hclog.NoLevel, true},
	}
	for _, tt := range tests {
		got, err := ParseLevel(tt.in)
		if tt.wantErr {
			if err == nil || !strings.Contains(err.Error(), strconv.Quote(tt.in)) {
				t.Errorf("ParseLevel(%q) error = %v, want one naming the value", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		opts Options
		want string
	}{
		{Options{Level: "loud"}, `unknown log level "loud"`},
		{Options{Format: "xml"}, `unknown log format "xml"`},
	}
	for _, tt := range tests {
		l, err := New(tt.opts, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) || l != nil {
			t.Errorf("New(%+v) = %v, %v; want error containing %s", tt.opts, l, err, tt.want)
		}
	}
}

func TestLevelsAndDefaults(t *testing.T) {
	tests := []struct {
		level, format string
		emit          func(hclog.Logger)
		wantEmpty     bool
		wantSub       string
	}{
		{"", "", func(l hclog.Logger) { l.Debug("hidden") }, true, ""},
		{"", "", func(l hclog.Logger) { l.Info("shown") }, false, "[INFO]  argus: shown"},
		{"warn", "text", func(l hclog.Logger) { l.Info("hidden") }, true, ""},
		{"warn", "json", func(l hclog.Logger) { l.Warn("shown") }, false, `"@module":"argus"`},
		{"off", "text", func(l hclog.Logger) { l.Error("hidden") }, true, ""},
		{"off", "json", func(l hclog.Logger) { l.Error("hidden"); Slog(l).Error("hidden") }, true, ""},
		{"trace", "text", func(l hclog.Logger) { Slog(l).Log(context.Background(), slog.LevelDebug-1, "deep") }, false, "[TRACE] argus: deep"},
		{"info", "text", func(l hclog.Logger) { Slog(l).Debug("hidden") }, true, ""},
		{"info", "text", func(l hclog.Logger) { Slog(l).Warn("w", "a", 1) }, false, "[WARN]  argus: w: a=1"},
	}
	for i, tt := range tests {
		var buf bytes.Buffer
		l, err := New(Options{Level: tt.level, Format: tt.format, Output: &buf}, nil)
		if err != nil {
			t.Fatal(err)
		}
		tt.emit(l)
		out := buf.String()
		if tt.wantEmpty != (out == "") || !strings.Contains(out, tt.wantSub) {
			t.Errorf("case %d (level %q format %q): output %q", i, tt.level, tt.format, out)
		}
	}
	if Slog(nil) == nil {
		t.Error("Slog(nil) returned nil")
	}
	var buf bytes.Buffer
	l, _ := New(Options{Output: &buf, Name: "custom"}, nil)
	l.Info("x")
	if !strings.Contains(buf.String(), "custom: x") {
		t.Errorf("custom name not used: %q", buf.String())
	}
}

func TestLevelWriterForwarded(t *testing.T) {
	var std, errs bytes.Buffer
	secrets := NewSecrets("leveled-secret-77")
	lw := hclog.NewLeveledWriter(&std, map[hclog.Level]io.Writer{hclog.Error: &errs})
	l, err := New(Options{Output: lw}, secrets)
	if err != nil {
		t.Fatal(err)
	}
	l.Info("info leveled-secret-77")
	l.Error("error leveled-secret-77")
	if !strings.Contains(std.String(), "info [REDACTED]") || strings.Contains(std.String(), "error") {
		t.Errorf("std = %q", std.String())
	}
	if !strings.Contains(errs.String(), "error [REDACTED]") {
		t.Errorf("errs = %q", errs.String())
	}
}

// ---------------------------------------------------------------------------
// Concurrency (run with -race).

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }

func TestWriterResult(t *testing.T) {
	w := NewRedactingWriter(shortWriter{}, NewSecrets("abcdef"))
	if n, err := w.Write([]byte("hello")); n != 2 || !errors.Is(err, io.ErrShortWrite) {
		t.Errorf("unredacted short write = %d, %v", n, err)
	}
	if n, err := w.Write([]byte("x abcdef")); n != 0 || !errors.Is(err, io.ErrShortWrite) {
		t.Errorf("redacted short write = %d, %v", n, err)
	}
	var buf bytes.Buffer
	w = NewRedactingWriter(&buf, NewSecrets("abcdef"))
	if n, err := w.Write([]byte("x abcdef")); n != 8 || err != nil || buf.String() != "x [REDACTED]" {
		t.Errorf("write = %d, %v, %q", n, err, buf.String())
	}
}

func TestConcurrentAddAndWrite(t *testing.T) {
	var buf bytes.Buffer
	secrets := NewSecrets("initial-secret-0")
	l, err := New(Options{Format: "json", Output: &buf}, secrets)
	if err != nil {
		t.Fatal(err)
	}
	raw := NewRedactingWriter(io.Discard, secrets)
	const writers, adders, iters = 8, 4, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range iters {
				l.Info("msg initial-secret-0", "w", w, "i", i, "tok", "initial-secret-0")
				_, _ = raw.Write([]byte("line initial-secret-0\n"))
			}
		})
	}
	for a := range adders {
		wg.Go(func() {
			for i := range iters / 4 {
				secrets.Add(fmt.Sprintf("added-%d-%d", a, i))
			}
		})
	}
	wg.Wait()

	out := buf.String()
	if strings.Contains(out, "initial-secret-0") {
		t.Fatal("secret leaked under concurrency")
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != writers*iters {
		t.Fatalf("got %d lines, want %d", len(lines), writers*iters)
	}
	for _, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil || m["tok"] != redactedMarker {
			t.Fatalf("interleaved or unredacted line %q: %v", line, err)
		}
	}
	// Every secret added concurrently is in effect afterwards.
	for a := range adders {
		for i := range iters / 4 {
			s := fmt.Sprintf("added-%d-%d", a, i)
			if got := secrets.RedactString("<" + s + ">"); got != "<[REDACTED]>" {
				t.Fatalf("%s not redacted: %q", s, got)
			}
		}
	}
}

// ---------------------------------------------------------------------------

func BenchmarkRedactingWriter(b *testing.B) {
	secrets := NewSecrets(
		"ghp_1234567890abcdefghijklmnopqrstuvwxyz",
		"sk-live-51HqLyjWDarjtT1zdp7dcXyz",
		"xoxb-123456789012-abcdefghijklmnop",
		`p@ss"w0rd\with-escapes`,
		"päss-wörd-ünïcode",
		"AKIAIOSFODNN7EXAMPLE",
		"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.payload.sig",
		"postgres-password-42",
		"redis-auth-token-xyz",
	)
	lines := map[string][]byte{
		"match": []byte(`2026-01-02T15:04:05.000Z [INFO]  argus.upstream: request forwarded: ` +
			`server=github method=tools/call duration=12.5ms status=200 ` +
			`authorization="Bearer ghp_1234567890abcdefghijklmnopqrstuvwxyz" id=42` + "\n"),
		"nomatch": []byte(`2026-01-02T15:04:05.000Z [INFO]  argus.upstream: request forwarded: ` +
			`server=github method=tools/call duration=12.5ms status=200 ` +
			`authorization="Bearer <none>" user_agent=argus/1.0 request_id=7f3a9c2e-1b4d-4e8f id=42` + "\n"),
	}
	for _, name := range []string{"match", "nomatch"} {
		line := lines[name]
		b.Run(name, func(b *testing.B) {
			w := NewRedactingWriter(io.Discard, secrets)
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := w.Write(line); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzRedact checks that Redact never panics, never lets a plain secret
// through, and keeps JSON valid (for secrets without a double quote: the raw
// form of such a secret can match structural JSON quotes).
func FuzzRedact(f *testing.F) {
	for _, c := range canaries {
		f.Add(c.value, "prefix "+c.value+" suffix")
	}
	f.Add(`abc\`, `xabc"y`)
	f.Add("nopassword", "line\nopassword")
	f.Add("00e9ab", "\u00e9ab")
	f.Add("zab", "xxzabcdefyy")
	f.Fuzz(func(t *testing.T, secret, text string) {
		s := NewSecrets(secret, "abcdef")
		out := s.RedactString(text)
		if len(strings.TrimSpace(secret)) >= 3 && strings.Trim(secret, "abcdefghijklmnopqrstuvwxyz0123456789") == "" &&
			strings.Contains(out, secret) {
			t.Fatalf("secret %q survived in %q", secret, out)
		}
		if !strings.Contains(secret, `"`) {
			enc, err := json.Marshal(map[string]string{"m": text})
			if err != nil {
				t.Fatal(err)
			}
			if red := s.Redact(enc); !json.Valid(red) {
				t.Fatalf("invalid JSON after redacting %q: %s -> %s", secret, enc, red)
			}
		}
	})
}

// TestRedactBase64AndPercent covers the transcoded forms: base64 of the
// secret alone and inside a longer base64 text at every byte alignment
// (an HTTP Basic credential, say), and percent-encodings in either hex case.
func TestRedactBase64AndPercent(t *testing.T) {
	const secret = "Zk9/p+q=r s&t<ü>Wv3"
	s := NewSecrets(secret)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		for _, prefix := range []string{"", "u", "us", "user:", "Basic alice:"} {
			for _, suffix := range []string{"", "!", "-tail-of-text"} {
				in := enc.EncodeToString([]byte(prefix + secret + suffix))
				out := s.RedactString("Authorization: Basic " + in + "\n")
				if !strings.Contains(out, redactedMarker) {
					t.Errorf("base64 %q of %q+secret+%q not redacted: %s", in, prefix, suffix, out)
					continue
				}
				// At most two characters per edge may survive.
				kept := len(out) - len("Authorization: Basic \n") - len(redactedMarker)
				if max := len(enc.EncodeToString([]byte(prefix+suffix))) + 6; kept > max {
					t.Errorf("base64 of %q+secret+%q: %d characters left around the marker (max %d): %s", prefix, suffix, kept, max, out)
				}
			}
		}
	}
	var upper, lower strings.Builder
	for _, c := range []byte(secret) {
		fmt.Fprintf(&upper, "%%%02X", c)
		fmt.Fprintf(&lower, "%%%02x", c)
	}
	for _, in := range []string{url.QueryEscape(secret), lowerHexEscapes(url.QueryEscape(secret)),
		url.PathEscape(secret), lowerHexEscapes(url.PathEscape(secret)), upper.String(), lower.String()} {
		if got := s.RedactString("q=" + in + "&x=1"); got != "q="+redactedMarker+"&x=1" {
			t.Errorf("percent form %q: got %q", in, got)
		}
	}
}

func lowerHexEscapes(s string) string {
	return regexp.MustCompile(`%[0-9A-F]{2}`).ReplaceAllStringFunc(s, strings.ToLower)
}

// TestRouteGlobal: the OpenTelemetry SDK's errors and the standard log
// package come out as lines of the configured format, redacted.
func TestRouteGlobal(t *testing.T) {
	const secret = "otelSecretQ7w9"
	var buf bytes.Buffer
	l, err := New(Options{Format: "json", Output: &buf}, NewSecrets(secret))
	if err != nil {
		t.Fatal(err)
	}
	prevOut, prevFlags := log.Writer(), log.Flags()
	prevHandler := otel.GetErrorHandler()
	t.Cleanup(func() { log.SetOutput(prevOut); log.SetFlags(prevFlags); otel.SetErrorHandler(prevHandler) })
	RouteGlobal(l)
	otel.Handle(fmt.Errorf("failed to upload metrics: header %s rejected", secret))
	log.Printf("[WARN] plain std log with %s", secret)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %d:\n%s", len(lines), buf.String())
	}
	for i, want := range []struct{ level, module, text string }{
		{"error", "argus.otel", "failed to upload metrics"},
		{"warn", "argus.stdlog", "plain std log"},
	} {
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &m); err != nil {
			t.Fatalf("line %d is not JSON: %v: %s", i, err, lines[i])
		}
		if m["@level"] != want.level || m["@module"] != want.module || !strings.Contains(lines[i], want.text) {
			t.Errorf("line %d = %s, want level %s module %s with %q", i, lines[i], want.level, want.module, want.text)
		}
		if strings.Contains(lines[i], secret) || !strings.Contains(lines[i], redactedMarker) {
			t.Errorf("line %d not redacted: %s", i, lines[i])
		}
	}
}

// TestLongSecretIsCheap: a value of 1 MiB (a file() of a large bundle)
// is registered line by line, quickly, and its lines are redacted.
func TestLongSecretIsCheap(t *testing.T) {
	var b strings.Builder
	for i := 0; b.Len() < 1<<20; i++ {
		fmt.Fprintf(&b, "line-%06d-%s\n", i, strings.Repeat("Zx9", 20))
	}
	s := NewSecrets(b.String())
	// The cost of Add and the matcher's memory grow with the total length
	// of the registered patterns: a long value must be kept to its lines
	// in a few encodings (at most 4 × its size), not every composition of
	// every encoding (dozens of times its size). BenchmarkAddLongSecret
	// prints the time it takes.
	total := 0
	for p := range s.patterns {
		total += len(p)
	}
	if limit := 4 * b.Len(); total > limit {
		t.Errorf("a 1 MiB secret registered %d bytes of patterns; want at most %d", total, limit)
	}
	line := fmt.Sprintf("line-%06d-%s", 4242, strings.Repeat("Zx9", 20))
	if got := s.RedactString("pem: " + line + "\n"); got != "pem: [REDACTED]\n" {
		t.Errorf("line of a long secret not redacted: %q", got)
	}
}

// BenchmarkAddLongSecret: registering a 1 MiB value (a certificate bundle
// read with file(), say), line by line.
func BenchmarkAddLongSecret(b *testing.B) {
	var sb strings.Builder
	for i := 0; sb.Len() < 1<<20; i++ {
		fmt.Fprintf(&sb, "line-%06d-%s\n", i, strings.Repeat("Zx9", 20))
	}
	v := sb.String()
	b.SetBytes(int64(len(v)))
	for b.Loop() {
		NewSecrets(v)
	}
}

// TestSlogDemoting: the named messages are logged at Debug at most, so a
// logger at Info drops them and one at Debug writes them at Debug; other
// messages keep their level, and a demoted Warn is Debug too.
func TestSlogDemoting(t *testing.T) {
	for _, level := range []hclog.Level{hclog.Info, hclog.Debug} {
		var buf bytes.Buffer
		demote := func(r slog.Record) bool { return r.Message == "routine" || r.Message == "routine warning" }
		l := SlogDemoting(hclog.New(&hclog.LoggerOptions{Output: &buf, Level: level, DisableTime: true}), demote)
		l.Info("routine", "k", "v")
		l.Warn("routine warning")
		l.Info("news", "k", "v")
		got := buf.String()
		if !strings.Contains(got, "[INFO]  news: k=v") {
			t.Errorf("level %v: other message not at Info:\n%s", level, got)
		}
		demoted := strings.Contains(got, "[DEBUG] routine: k=v") && strings.Contains(got, "[DEBUG] routine warning")
		switch {
		case level == hclog.Info && strings.Contains(got, "routine"):
			t.Errorf("level Info: demoted messages written:\n%s", got)
		case level == hclog.Debug && !demoted:
			t.Errorf("level Debug: demoted messages not written at Debug:\n%s", got)
		}
	}
}

// TestRedactTruncated: a secret cut short and marked so ("..." as a JSON
// decoder quotes its input, "…" as request.Clip cuts) is redacted once
// at least half of it is there, raw and in the encodings a log line or a
// record gives it; a shorter prefix, or a prefix with no marker, is
// ordinary text.
func TestRedactTruncated(t *testing.T) {
	const secret = "HeaderSecretHHH888" // 18 bytes
	s := NewSecrets(secret, "Bearer tok-ÿé-0123")
	for _, tc := range []struct{ in, want string }{
		// A go-sdk decoder's error about an HTTP backend's answer.
		{`invalid character 'o' in literal null: "not json Bearer HeaderSecretHHH8..."`, `invalid character 'o' in literal null: "not json Bearer [REDACTED]"`},
		{"HeaderSecret…", "[REDACTED]"},
		{"HeaderSec...", "[REDACTED]"},                                           // half: 9 of 18
		{`{"error":"HeaderSecretHH\u2026"}`, `{"error":"HeaderSecretHH\u2026"}`}, // ASCII-escaped marker: not a listed encoding
		{`msg="quoted \"HeaderSecretHHH...\""`, `msg="quoted \"[REDACTED]\""`},
		{"Bearer tok-ÿé…", "[REDACTED]"},
		{"HeaderSe...", "HeaderSe..."},                               // 8 of 18: under half
		{"HeaderSecretHHH8 continues", "HeaderSecretHHH8 continues"}, // no marker
		{"the whole HeaderSecretHHH888.", "the whole [REDACTED]."},
	} {
		if got := s.RedactString(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// In a JSON log line, the cut secret as encoding/json writes it.
	line, _ := json.Marshal(map[string]string{"error": "x " + secret[:12] + "… <&>"})
	if got := string(s.Redact(line)); strings.Contains(got, secret[:12]) || !json.Valid([]byte(got)) {
		t.Errorf("JSON line %s redacted to %s", line, got)
	}
	// A long secret registers no cut forms: its patterns stay linear.
	long := strings.Repeat("k", 2*maxTruncatedLen)
	if n := len(truncatedVariants(long)); n != 0 {
		t.Errorf("a %d-byte secret has %d cut forms, want none", len(long), n)
	}
}
