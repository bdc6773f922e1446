package configload

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/config/hclfunc"
	"github.com/argusmcp/argus/host/logging"
)

// diagnosticsOf loads src (written to a file in a temporary directory) and
// renders its diagnostics.
func diagnosticsOf(t *testing.T, p *Parser, src string) (*config.Config, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "argus.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := p.LoadFile(path)
	var buf bytes.Buffer
	if err := p.WriteDiagnostics(&buf, diags, 0, false); err != nil {
		t.Fatal(err)
	}
	return cfg, buf.String()
}

// TestDiagnosticsNeverQuoteSecrets: a diagnostic about a value from env()
// or file(), or one whose snippet shows a token line, carries no secret,
// whether the file fails in validation, decoding or parsing.
func TestDiagnosticsNeverQuoteSecrets(t *testing.T) {
	const leakURL = "leak-url-Qz7w.example/mcp?key=K9"
	t.Setenv("LEAK_URL", leakURL)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte("file-secret-Hq3x9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, src string
		secrets   []string
	}{
		{"env value in detail", `backend "x" {
  type = "streamable-http"
  url  = env("LEAK_URL")
}`, []string{leakURL}},
		{"file value in detail", `server { listen = file("` + keyFile + `") }`, []string{"file-secret-Hq3x9"}},
		{"token in snippet", `auth {
  token "carol" { value = "carol-live-token-0123456789" }
  token "carol" { value = "carol-other-token-9876543210" }
}`, []string{"carol-live-token-0123456789", "carol-other-token-9876543210"}},
		{"token next to a decode error", `auth { token "dave" { value = "dave-live-token-0123456789", extra = 1 } }`,
			[]string{"dave-live-token-0123456789"}},
		{"token on a line that fails to parse", `management { token = "mgmt-live-token-0123456789" oops }`,
			[]string{"mgmt-live-token-0123456789"}},
		{"header in snippet", `backend "h" {
  type = "stdio"
  command = "x"
  headers = { Authorization = "Bearer hdr-secret-Lm4p0" }
}`, []string{"hdr-secret-Lm4p0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewParser()
			cfg, out := diagnosticsOf(t, p, tc.src)
			if cfg != nil || !strings.Contains(out, "Error:") {
				t.Fatalf("want an error diagnostic, got config %v:\n%s", cfg != nil, out)
			}
			for _, s := range tc.secrets {
				if strings.Contains(out, s) {
					t.Errorf("diagnostics quote secret %q:\n%s", s, out)
				}
			}
			if !strings.Contains(out, "[REDACTED]") {
				t.Errorf("nothing redacted:\n%s", out)
			}
		})
	}
}

// TestParserSharesSecrets: a parser built over a running configuration's
// set redacts that configuration's secrets too, and adds its own.
func TestParserSharesSecrets(t *testing.T) {
	running := logging.NewSecrets("running-token-Xc81")
	p := NewParserWith(running)
	_, out := diagnosticsOf(t, p, `server { listen = "running-token-Xc81" }
management { token = "new-token-value-Pq72x" }`)
	if strings.Contains(out, "running-token-Xc81") || !strings.Contains(out, "[REDACTED]") {
		t.Errorf("running secret in diagnostics:\n%s", out)
	}
	if got := running.RedactString("x new-token-value-Pq72x"); got != "x [REDACTED]" {
		t.Errorf("the new file's token was not added to the shared set: %q", got)
	}
}

// TestEnvironmentSecrets: the OTLP header variables and $ARGUS_MGMT_TOKEN
// are secrets even when malformed.
func TestEnvironmentSecrets(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key=otel-hdr-Vb5n%2Bq,broken-entry-Wk3z")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "malformed-Yt6r")
	t.Setenv(config.ManagementTokenEnv, "env-mgmt-token-Rr7s-0123456789")
	p := NewParser()
	cfg, diags := p.Load([]byte(""), "x.hcl")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	for _, s := range []string{"otel-hdr-Vb5n+q", "otel-hdr-Vb5n%2Bq", "broken-entry-Wk3z", "malformed-Yt6r", "env-mgmt-token-Rr7s-0123456789"} {
		if !slices.Contains(cfg.Secrets, s) {
			t.Errorf("cfg.Secrets lacks %q", s)
		}
		if got := p.Secrets().RedactString(s); got != "[REDACTED]" {
			t.Errorf("parser does not redact %q: %q", s, got)
		}
	}
}

// TestWeakManagementTokenFromEnv: the override is checked at load time.
func TestWeakManagementTokenFromEnv(t *testing.T) {
	t.Setenv(config.ManagementTokenEnv, "password-password")
	_, diags := NewParser().Load([]byte(`management { token = "a-good-token-k8s7d6f5g4" }`), "x.hcl")
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "$ARGUS_MGMT_TOKEN is a placeholder") {
		t.Errorf("diags = %v", diags)
	}
}

// TestFileSizeLimit: file() and the configuration itself are read up to
// MaxFileBytes; larger files are refused with a diagnostic.
func TestFileSizeLimit(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, bytes.Repeat([]byte("a"), hclfunc.MaxFileBytes+1), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := filepath.Join(dir, "ok")
	if err := os.WriteFile(ok, bytes.Repeat([]byte("b"), hclfunc.MaxFileBytes), 0o600); err != nil {
		t.Fatal(err)
	}
	_, diags := NewParser().Load([]byte(`management { token = file("big") }`), filepath.Join(dir, "argus.hcl"))
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "larger than 1048576 bytes") {
		t.Errorf("big file(): %v", diags)
	}
	if _, diags := NewParser().Load([]byte(`management { token = file("ok") }`), filepath.Join(dir, "argus.hcl")); diags.HasErrors() {
		t.Errorf("file() of exactly hclfunc.MaxFileBytes: %v", diags)
	}
	_, diags = NewParser().LoadFile(big)
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "larger than 1048576 bytes") {
		t.Errorf("big configuration: %v", diags)
	}
	_, diags = NewParser().LoadFile("/dev/zero")
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "not a regular file") {
		t.Errorf("/dev/zero as configuration: %v", diags)
	}
}

// TestDefaultSinkFromValues: the default sink takes the audit block's
// file as a value, whatever characters it holds, and its attributes point
// at the audit block for diagnostics.
func TestDefaultSinkFromValues(t *testing.T) {
	dir := t.TempDir()
	cfg, diags := NewParser().Load([]byte(`audit {
  file = "trail/$${odd}%%{x}\"q.jsonl"
}
`), filepath.Join(dir, "argus.hcl"))
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	attrs, d := cfg.Audit.Sinks[0].Body.JustAttributes()
	if d.HasErrors() {
		t.Fatal(d.Error())
	}
	v, d := attrs["file"].Expr.Value(nil)
	if d.HasErrors() || v.AsString() != filepath.Join(dir, `trail/${odd}%{x}"q.jsonl`) {
		t.Errorf("file = %#v, %v", v, d)
	}
	if r := attrs["file"].Expr.Range(); r.Filename != filepath.Join(dir, "argus.hcl") || r.Start.Line != 2 {
		t.Errorf("file attribute range = %v, want line 2 of the configuration", r)
	}
}

// TestHeaderCredentialIsSecret: of "Bearer <token>", the token alone is a
// secret too (it reaches output without its scheme).
func TestHeaderCredentialIsSecret(t *testing.T) {
	p := NewParser()
	cfg, diags := p.Load([]byte(`backend "r" {
  type    = "streamable-http"
  url     = "http://127.0.0.1:1/mcp"
  headers = { Authorization = "Bearer hdr-cred-Jk82" }
}`), "x.hcl")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if !slices.Contains(cfg.Secrets, "hdr-cred-Jk82") || p.Secrets().RedactString("hdr-cred-Jk82") != "[REDACTED]" {
		t.Errorf("credential not a secret: %q", cfg.Secrets)
	}
}

// A backend URL's password and its key-like query values are secrets; a
// short value such as format=json is not, or every "json" in the logs
// would be blanked out.
func TestURLCredentialsAreSecrets(t *testing.T) {
	p := NewParser()
	cfg, diags := p.Load([]byte(`backend "r" {
  type = "streamable-http"
  url  = "http://user:url-pass-Qw7@127.0.0.1:1/mcp?api_key=QUERYKEY-4711&format=json"
}`), "x.hcl")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	for _, s := range []string{"url-pass-Qw7", "QUERYKEY-4711"} {
		if !slices.Contains(cfg.Secrets, s) || p.Secrets().RedactString(s) != "[REDACTED]" {
			t.Errorf("%s not a secret: %q", s, cfg.Secrets)
		}
	}
	if slices.Contains(cfg.Secrets, "json") {
		t.Errorf("a short query value taken for a secret: %q", cfg.Secrets)
	}
}
