package configload

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/argusmcp/argus/host/config"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestInvalidConfigs loads every broken configuration in testdata/invalid and
// compares the rendered diagnostics (file, line, column, snippet) with its
// .golden file. Run with -update to rewrite them after a deliberate change.
func TestInvalidConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 15 {
		t.Fatalf("want at least 15 broken configs, have %d", len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".hcl"), func(t *testing.T) {
			p := NewParser()
			cfg, diags := p.LoadFile(f)
			if !diags.HasErrors() {
				t.Fatalf("no error diagnostics for %s", f)
			}
			if cfg != nil {
				t.Errorf("Load returned a config alongside errors")
			}
			var buf bytes.Buffer
			if err := p.WriteDiagnostics(&buf, diags, 0, false); err != nil {
				t.Fatal(err)
			}
			got := buf.String()
			// Every error must point into the file: name:line,col.
			if !strings.Contains(got, "on "+f+" line ") {
				t.Errorf("diagnostics carry no source position:\n%s", got)
			}
			golden := strings.TrimSuffix(f, ".hcl") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("missing golden file (run go test -update): %v", err)
			}
			if got != string(want) {
				t.Errorf("diagnostics differ from %s\n--- got\n%s\n--- want\n%s", golden, got, want)
			}
		})
	}
}

func TestLoadFull(t *testing.T) {
	t.Setenv("ARGUS_TEST_ALICE_TOKEN", "alice-token-\"quoted\"-ü")
	cfg, diags := NewParser().LoadFile("testdata/valid/full.hcl")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if cfg.Server.Listen != "127.0.0.1:9100" || cfg.Server.MaxRequestBytes != 2097152 || cfg.Server.SessionTimeout != 10*time.Minute {
		t.Errorf("server = %+v", cfg.Server)
	}
	if cfg.Log.Level != "debug" || cfg.Log.Format != "json" || cfg.PluginDir != "./my-plugins" {
		t.Errorf("log = %+v, plugin_dir = %q", cfg.Log, cfg.PluginDir)
	}
	if len(cfg.Auth.Tokens) != 2 || cfg.Auth.Tokens[0].UserID != "alice" || cfg.Auth.Tokens[0].Value != "alice-token-\"quoted\"-ü" {
		t.Errorf("auth = %+v", cfg.Auth)
	}
	if cfg.Management.Token != "mgmt-token-from-file-0123\n" {
		t.Errorf("management token = %q", cfg.Management.Token)
	}
	names := []string{}
	for _, b := range cfg.Backends {
		names = append(names, b.Name)
	}
	if !slices.Equal(names, []string{"demo", "remote", "legacy"}) {
		t.Errorf("backends in order = %v", names)
	}
	demo := cfg.Backends[0]
	if demo.CallTimeout != 5*time.Second || demo.ConnectRetries != 1 || demo.ConnectTimeout != config.DefaultConnectTimeout {
		t.Errorf("demo timeouts = %+v", demo)
	}
	if !slices.Equal(demo.Tools.Deny, []string{"delete_*"}) || demo.Env["DEMO"] != "1" {
		t.Errorf("demo = %+v", demo)
	}
	if got := cfg.Backends[1].Headers["Authorization"]; got != "Bearer fallback-remote-token" {
		t.Errorf("remote header = %q", got)
	}
	if cfg.Conflict.Strategy != config.StrategyPriority || cfg.Conflict.Separator != "." || !slices.Equal(cfg.Conflict.Order, []string{"remote", "demo"}) {
		t.Errorf("conflict = %+v", cfg.Conflict)
	}
	for _, s := range []string{
		"alice-token-\"quoted\"-ü", "bob-token-0123456789",
		"mgmt-token-from-file-0123\n", "mgmt-token-from-file-0123",
		"fallback-remote-token", "Bearer fallback-remote-token",
	} {
		if !slices.Contains(cfg.Secrets, s) {
			t.Errorf("secret %q not recorded; secrets = %q", s, cfg.Secrets)
		}
	}
}

func TestDefaults(t *testing.T) {
	cfg, diags := NewParser().Load([]byte(""), "empty.hcl")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if cfg.Server.Listen != config.DefaultListen || cfg.Log.Level != "info" || cfg.Log.Format != "text" ||
		cfg.Conflict.Strategy != config.DefaultStrategy || cfg.Conflict.Separator != "_" || cfg.Auth != nil ||
		cfg.PluginDir != config.DefaultPluginDir || len(cfg.Backends) != 0 || len(cfg.Secrets) != 0 {
		t.Errorf("defaults = %+v", cfg)
	}
}

func TestFileRelativeToConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tok"), []byte("management-token-xyz-123"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := []byte(`management { token = file("tok") }`)
	cfg, diags := NewParser().Load(src, filepath.Join(dir, "argus.hcl"))
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if cfg.Management.Token != "management-token-xyz-123" {
		t.Errorf("token = %q", cfg.Management.Token)
	}
}

func TestAllErrorsReported(t *testing.T) {
	src := []byte(`
log { level = "loud" }
backend "a" { type = "stdio" }
backend "b" {
  type = "sse"
  url  = "ftp://x"
}
`)
	_, diags := NewParser().Load(src, "multi.hcl")
	if n := len(diags.Errs()); n != 3 {
		t.Fatalf("want 3 errors reported together, got %d: %s", n, diags.Error())
	}
}

func TestPluginInstances(t *testing.T) {
	t.Setenv("ARGUS_TEST_WEBHOOK_SECRET", "webhook-secret-value")
	src := []byte(`
audit {
  sink "webhook" "siem" {
    url    = "https://siem.example/ingest"
    secret = env("ARGUS_TEST_WEBHOOK_SECRET")
    host {
      sha256   = "ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789"
      required = true
    }
  }
  sink "discard" "null" {}
}
telemetry {
  enabled = true
  exporter "otlp" "main" { endpoint = "127.0.0.1:4317" }
}
health {
  probe "ping" "default" { degraded_latency = "2s" }
}
`)
	cfg, diags := NewParser().Load(src, "plugins.hcl")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	var got []string
	for _, in := range cfg.PluginInstances() {
		got = append(got, fmt.Sprintf("%v %s/%s pin=%.6s required=%v", in.Kind, in.Plugin, in.Name, in.SHA256, in.Required))
	}
	want := []string{
		"KIND_AUDIT_SINK webhook/siem pin=abcdef required=true",
		"KIND_AUDIT_SINK discard/null pin= required=false",
		"KIND_TELEMETRY_EXPORTER otlp/main pin= required=false",
		"KIND_HEALTH_PROBE ping/default pin= required=false",
	}
	if !slices.Equal(got, want) {
		t.Errorf("instances:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The plugin's body stays undecoded and no longer shows the host block;
	// its env() values are secrets only once evaluated.
	if slices.Contains(cfg.Secrets, "webhook-secret-value") {
		t.Errorf("plugin body was evaluated at load time")
	}
	siem := cfg.Audit.Sinks[0]
	content, d := siem.Body.Content(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "url"}, {Name: "secret"}}})
	if d.HasErrors() {
		t.Fatalf("plugin body does not decode as just the plugin's attributes: %v", d)
	}
	attrs := content.Attributes
	var secrets []string
	v, d := attrs["secret"].Expr.Value(cfg.EvalContext(func(s ...string) { secrets = append(secrets, s...) }))
	if d.HasErrors() || v.AsString() != "webhook-secret-value" || !slices.Contains(secrets, "webhook-secret-value") {
		t.Errorf("secret = %#v, %v; reported secrets %q", v, d, secrets)
	}
	if !cfg.Telemetry.Enabled || !cfg.Audit.Enabled || cfg.Audit.MaxSizeMB != config.DefaultAuditMaxSizeMB {
		t.Errorf("audit = %+v, telemetry = %+v", cfg.Audit, cfg.Telemetry)
	}
}

func TestDefaultPluginInstances(t *testing.T) {
	dir := t.TempDir()
	cfg, diags := NewParser().Load([]byte(`
audit {
  file         = "trail/audit.jsonl"
  max_size_mb  = 7
  backup_count = 2
}
telemetry { enabled = true }
`), filepath.Join(dir, "argus.hcl"))
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	got := map[string]config.PluginInstance{}
	for _, in := range cfg.PluginInstances() {
		got[in.Plugin] = in
	}
	if len(got) != 3 || got["jsonl"].Name != config.DefaultInstance || got["otlp"].Name != config.DefaultInstance || got["ping"].Name != config.DefaultInstance {
		t.Fatalf("default instances = %+v", got)
	}
	attrs, _ := got["jsonl"].Body.JustAttributes()
	for name, want := range map[string]string{"file": filepath.Join(dir, "trail/audit.jsonl"), "max_size_mb": "7", "backup_count": "2"} {
		v, _ := attrs[name].Expr.Value(nil)
		if s := v.GoString(); !strings.Contains(s, want) {
			t.Errorf("default sink %s = %s, want %s", name, s, want)
		}
	}
	// Explicit instances replace the defaults; audit off means no sink.
	cfg, _ = NewParser().Load([]byte(`
audit { enabled = false }
health {
  probe "ping" "fast" { degraded_latency = "1s" }
}
`), "x.hcl")
	if len(cfg.Audit.Sinks) != 0 || len(cfg.Telemetry.Exporters) != 0 || len(cfg.Health.Probes) != 1 || cfg.Health.Probes[0].Name != "fast" {
		t.Errorf("instances = %+v", cfg.PluginInstances())
	}
}

func TestManagementAuditBuffer(t *testing.T) {
	for _, c := range []struct {
		src  string
		want int
		err  string
	}{
		{``, config.DefaultAuditBuffer, ""},
		{`management { audit_buffer = 50 }`, 50, ""},
		{`management { audit_buffer = 0 }`, 0, ""},
		{`management { audit_buffer = -1 }`, 0, "audit_buffer must be at least 0"},
		{`management { audit_buffer = 100001 }`, 0, "audit_buffer must be at most 100000"},
	} {
		cfg, diags := NewParser().Load([]byte(c.src), "m.hcl")
		if c.err != "" {
			if !strings.Contains(diags.Error(), c.err) {
				t.Errorf("%s: diagnostics %q, want %q", c.src, diags.Error(), c.err)
			}
			continue
		}
		if diags.HasErrors() || cfg.Management.AuditBuffer != c.want {
			t.Errorf("%s: audit_buffer = %d (%v), want %d", c.src, cfg.Management.AuditBuffer, diags, c.want)
		}
	}
}
