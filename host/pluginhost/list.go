package pluginhost

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/hashicorp/go-hclog"

	"github.com/argusmcp/argus/host/config"
)

// ConfigCatalog discovers the plugins in cfg's plugin_dir (relative to the
// configuration file) beside the built-ins.
func ConfigCatalog(cfg *config.Config, builtins ...Plugin) (*Catalog, error) {
	dir := cfg.PluginDir
	if !filepath.IsAbs(dir) && !strings.HasPrefix(cfg.Filename, "<") {
		dir = filepath.Join(filepath.Dir(cfg.Filename), dir)
	}
	return Discover(dir, DiscoverOptions{AllowGroupWritable: cfg.PluginDirAllowGroupWritable}, builtins...)
}

// LogNotes logs what an operator should know of the catalogue: refused
// plugins (warnings) and external plugins that override built-ins.
func (c *Catalog) LogNotes(log hclog.Logger) {
	for _, r := range c.Refused() {
		log.Warn("plugin refused", "error", r)
	}
	for _, pl := range c.Plugins() {
		if pl.Overrides {
			log.Info("external plugin overrides the built-in", "plugin", pl.Name, "path", pl.Path)
		}
	}
}

// WriteList starts every plugin of the runtime's catalogue at once, asks
// each for its kinds and version (Describe), and writes a table of them
// to w: name, kinds, version, source, path, sha256, then the plugin
// directory. It returns the plugins that could not be described and those
// the catalogue refused.
func (r *Runtime) WriteList(ctx context.Context, w io.Writer) []error {
	cat := r.opts.Catalog
	list := cat.Plugins()
	infos := make([]Info, len(list))
	errs := make([]error, len(list))
	var wg sync.WaitGroup
	for i, p := range list {
		wg.Go(func() { infos[i], errs[i] = r.Describe(ctx, p) })
	}
	wg.Wait()
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKINDS\tVERSION\tSOURCE\tPATH\tSHA256")
	var failed []error
	for i, p := range list {
		kinds, ver := "-", "-"
		if err := errs[i]; err != nil {
			failed = append(failed, err)
			ver = "error"
		} else {
			kinds, ver = strings.Join(infos[i].Kinds, ","), infos[i].Version
		}
		sum, err := p.SHA256()
		if err != nil {
			sum = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, kinds, ver, p.Source(), p.Path, sum)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nplugin_dir: %s\n", cat.Dir())
	return append(cat.Refused(), failed...)
}

// Builtins are the built-in plugins named names, served by this binary
// re-executed with subcommand and the plugin's name.
func Builtins(names []string, subcommand string) ([]Plugin, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("locate the argus binary for built-in plugins: %w", err)
	}
	var out []Plugin
	for _, name := range names {
		out = append(out, Plugin{Name: name, Path: self, Args: []string{subcommand, name}})
	}
	return out, nil
}
