package configload

import "testing"

func TestPluginDirAllowGroupWritable(t *testing.T) {
	for src, want := range map[string]bool{"": false, "plugin_dir_allow_group_writable = true\n": true} {
		cfg, diags := NewParser().Load([]byte(src), "argus.hcl")
		if diags.HasErrors() {
			t.Fatalf("%q: %v", src, diags)
		}
		if cfg.PluginDirAllowGroupWritable != want {
			t.Errorf("%q: PluginDirAllowGroupWritable = %v", src, cfg.PluginDirAllowGroupWritable)
		}
	}
}
