package configload

import (
	"testing"

	"github.com/argusmcp/argus/host/config"
)

// TestTracePropagation: a backend sends all of a trace context unless
// told otherwise, and each value the setting takes is kept.
func TestTracePropagation(t *testing.T) {
	for _, tt := range []struct{ setting, want string }{
		{"", config.PropagateAll},
		{`trace_propagation = "all"`, config.PropagateAll},
		{`trace_propagation = "trace"`, config.PropagateTrace},
		{`trace_propagation = "none"`, config.PropagateNone},
	} {
		cfg, diags := NewParser().Load([]byte(`
backend "a" {
  type    = "streamable-http"
  url     = "http://127.0.0.1:1/mcp"
  `+tt.setting+`
}
`), "propagation.hcl")
		if diags.HasErrors() {
			t.Fatalf("%s: %s", tt.setting, diags.Error())
		}
		if got := cfg.Backends[0].TracePropagation; got != tt.want {
			t.Errorf("%q: trace propagation %q, want %q", tt.setting, got, tt.want)
		}
	}
}
