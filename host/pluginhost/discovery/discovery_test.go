package discovery_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/argusmcp/argus/host/pluginhost/discovery"
)

// TestDiscoverPermissions: a plugin is refused, with the offending path
// and mode, when anyone but root and this user could replace it: through
// its resolved path and every directory above it, and above the plugin
// directory.
func TestDiscoverPermissions(t *testing.T) {
	base := t.TempDir() // 0700 under /tmp, which is sticky and writable by everyone
	mkdir := func(rel string, mode os.FileMode) string {
		p := filepath.Join(base, rel)
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	exe := func(dir, name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	link := func(dir, name, target string) {
		if err := os.Symlink(target, filepath.Join(dir, "argus-plugin-"+name)); err != nil {
			t.Fatal(err)
		}
	}
	plugins := mkdir("plugins", 0o755)
	link(plugins, "intoworld", exe(mkdir("world", 0o777), "p", 0o755))
	link(plugins, "intosticky", exe(mkdir("sticky", 0o777|os.ModeSticky), "p", 0o755))
	link(plugins, "groupfile", exe(mkdir("safe", 0o755), "g", 0o775))
	link(plugins, "intogroupdir", exe(mkdir("groupdir", 0o775), "p", 0o755))
	link(plugins, "deep", exe(mkdir("world2/sub", 0o755), "p", 0o755))
	os.Chmod(filepath.Join(base, "world2"), 0o777)
	exe(plugins, "argus-plugin-plain", 0o755)
	if os.Geteuid() == 0 {
		other := exe(mkdir("safe", 0o755), "other", 0o755)
		if err := os.Chown(other, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		link(plugins, "otherowner", other)
	}
	// The plugin directory itself below a directory writable by everyone.
	exposed := mkdir("world3/plugins", 0o755)
	os.Chmod(filepath.Join(base, "world3"), 0o777)
	exe(exposed, "argus-plugin-plain", 0o755)

	refused := func(cat *discovery.Catalog, name string) string {
		t.Helper()
		_, err := cat.Lookup(name)
		if err == nil {
			return ""
		}
		if !errors.Is(err, discovery.ErrRefused) {
			t.Errorf("Lookup(%s) = %v", name, err)
		}
		return err.Error()
	}
	cat, err := discovery.Scan(plugins, discovery.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"intoworld":    "the directory " + filepath.Join(base, "world") + " is writable by everyone (mode -rwxrwxrwx)",
		"intosticky":   "",
		"groupfile":    "its target " + filepath.Join(base, "safe", "g") + " is writable by its group (mode -rwxrwxr-x); set plugin_dir_allow_group_writable = true",
		"intogroupdir": "the directory " + filepath.Join(base, "groupdir") + " is writable by its group (mode -rwxrwxr-x)",
		"deep":         "the directory " + filepath.Join(base, "world2") + " is writable by everyone",
		"otherowner":   "its target " + filepath.Join(base, "safe", "other") + " is owned by uid 65534, neither root nor the user Argus runs as",
		"plain":        "",
	} {
		if name == "otherowner" && os.Geteuid() != 0 {
			continue
		}
		got := refused(cat, name)
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("%s: refusal %q, want %q", name, got, want)
		}
		if got != "" && !strings.Contains(got, filepath.Join(plugins, "argus-plugin-"+name)) {
			t.Errorf("%s: refusal %q does not name the plugin file", name, got)
		}
	}

	// plugin_dir_allow_group_writable accepts group-writable files and
	// directories, never ones writable by everyone.
	cat, err = discovery.Scan(plugins, discovery.Options{AllowGroupWritable: true})
	if err != nil {
		t.Fatal(err)
	}
	for name, ok := range map[string]bool{"groupfile": true, "intogroupdir": true, "intoworld": false} {
		if got := refused(cat, name); (got == "") != ok {
			t.Errorf("group-writable allowed: %s: refusal %q", name, got)
		}
	}

	cat, err = discovery.Scan(exposed, discovery.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := refused(cat, "plain"); !strings.Contains(got, "the directory "+filepath.Join(base, "world3")+" is writable by everyone") {
		t.Errorf("plugin directory below a world-writable one: refusal %q", got)
	}
}
