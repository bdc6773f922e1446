package pluginhost_test

import (
	"testing"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/config/configload"
	"github.com/argusmcp/argus/host/pluginhost"
)

// TestSpecsCarryHostSettings: each spec carries its own block's host
// settings, so the pipelines read them from the instance instead of
// matching configuration blocks to instances by name.
func TestSpecsCarryHostSettings(t *testing.T) {
	cfg, diags := configload.NewParser().Load([]byte(`
audit {
  sink "jsonl" "main" {
    file = "a.jsonl"
    host {
      required   = true
      queue_size = 5
      on_full    = "drop"
      ack_before_reply = true
    }
  }
  sink "discard" "spare" {}
}
`), "argus.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	got := map[string]pluginhost.HostSettings{}
	for _, s := range pluginhost.Specs(cfg, func(...string) {}) {
		got[s.ID()] = s.Host
	}
	want := map[string]pluginhost.HostSettings{
		"sink.main":     {Required: true, QueueSize: 5, OnFull: "drop", AckBeforeReply: true},
		"sink.spare":    {QueueSize: config.DefaultQueueSize, OnFull: "block"},
		"probe.default": {QueueSize: config.DefaultQueueSize, OnFull: "block"},
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: host settings %+v, want %+v", id, got[id], w)
		}
	}
}
