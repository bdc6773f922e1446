package pluginhost

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
)

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
