package configload

import (
	"strings"
	"testing"
	"time"

	"github.com/argusmcp/argus/host/config"
)

func TestLimitDefaultsAndOverrides(t *testing.T) {
	cfg, diags := NewParser().Load([]byte(`
backend "a" {
  type    = "stdio"
  command = "x"
  session_mode = "per-client"
}
`), "defaults.hcl")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	s, b := cfg.Server, cfg.Backends[0]
	if s.MaxSessions != config.DefaultMaxSessions || s.MaxSessionsPerIP != config.DefaultMaxSessionsPerIP || s.MaxSessionsPerUser != config.DefaultMaxSessionsPerUser ||
		s.MaxConnections != config.DefaultMaxConnections || s.ReadHeaderTimeout != config.DefaultReadHeaderTimeout || s.ReadTimeout != config.DefaultReadTimeout || s.IdleTimeout != config.DefaultIdleTimeout ||
		s.DrainTimeout != config.DefaultDrainTimeout {
		t.Errorf("server defaults = %+v", s)
	}
	if b.MaxClients != config.DefaultMaxClients || b.IdleTimeout != config.DefaultClientIdleTimeout {
		t.Errorf("backend defaults: max_clients %d idle_timeout %v", b.MaxClients, b.IdleTimeout)
	}

	cfg, diags = NewParser().Load([]byte(`
server {
  max_sessions          = 0
  max_sessions_per_ip   = 5
  max_sessions_per_user = 7
  max_connections       = 100
  read_header_timeout   = "2s"
  read_timeout          = "3s"
  idle_timeout          = "4s"
  drain_timeout         = "15s"
}
backend "a" {
  type         = "stdio"
  command      = "x"
  session_mode = "per-client"
  max_clients  = 2
  idle_timeout = "0s"
}
`), "set.hcl")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	s, b = cfg.Server, cfg.Backends[0]
	if s.MaxSessions != 0 || s.MaxSessionsPerIP != 5 || s.MaxSessionsPerUser != 7 || s.MaxConnections != 100 ||
		s.ReadHeaderTimeout != 2*time.Second || s.ReadTimeout != 3*time.Second || s.IdleTimeout != 4*time.Second ||
		s.DrainTimeout != 15*time.Second {
		t.Errorf("server = %+v", s)
	}
	if b.MaxClients != 2 || b.IdleTimeout != 0 {
		t.Errorf("backend: max_clients %d idle_timeout %v", b.MaxClients, b.IdleTimeout)
	}
}

func TestLimitValidation(t *testing.T) {
	for _, tt := range []struct{ src, want string }{
		{`server { max_sessions = -1 }`, "max_sessions must be at least 0"},
		{`server { max_connections = -5 }`, "max_connections must be at least 0"},
		{`server { read_timeout = "0s" }`, "read_timeout must be greater than zero"},
		{`server { idle_timeout = "soon" }`, `"soon" is not a duration`},
		{`server { drain_timeout = "-1s" }`, "drain_timeout must not be negative"},
		{`server { session_timeout = "-1m" }`, "session_timeout must not be negative"},
		{`backend "a" {
  type = "stdio"
  command = "x"
  session_mode = "per-client"
  max_clients = 0
}`, "max_clients must be at least 1"},
	} {
		_, diags := NewParser().Load([]byte(tt.src), "bad.hcl")
		if !diags.HasErrors() || !strings.Contains(diags.Error(), tt.want) {
			t.Errorf("%s: diagnostics %v, want %q", tt.src, diags, tt.want)
		}
	}
	// On a shared backend the per-client settings are flagged as ignored.
	_, diags := NewParser().Load([]byte(`backend "a" {
  type = "stdio"
  command = "x"
  max_clients = 3
}`), "warn.hcl")
	if diags.HasErrors() || !strings.Contains(diags.Error(), "only applies to session_mode") {
		t.Errorf("shared backend with max_clients: %v", diags)
	}
}
