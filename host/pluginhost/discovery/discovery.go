// Package discovery finds the plugins Argus can start: the built-ins (this
// binary, re-executed) and the argus-plugin-<name> executables in the
// plugin directory, refusing those someone other than root and Argus's own
// user could replace. Package pluginhost starts what it finds.
package discovery

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/pluginhost/proc"
)

// ExecutablePrefix starts the file name of every external plugin:
// argus-plugin-<name>.
const ExecutablePrefix = "argus-plugin-"

var nameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)

// ErrUnknownPlugin is returned by Catalog.Lookup for a name that is neither
// built in nor in the plugin directory.
var ErrUnknownPlugin = errors.New("unknown plugin")

// ErrRefused is returned by Catalog.Lookup for a plugin whose executable
// Argus will not run (see Scan).
var ErrRefused = errors.New("plugin refused")

// Plugin is one plugin Argus can start.
type Plugin struct {
	Name string
	// Path is the executable: the plugin binary, or the argus binary itself
	// for a built-in.
	Path string
	// Args are the arguments Path is started with (built-ins: the hidden
	// subcommand and the plugin's name).
	Args []string
	// Builtin reports a plugin compiled into argus.
	Builtin bool
	// Overrides reports an external plugin that replaces the built-in of
	// the same name.
	Overrides bool
}

// Source is "built-in", "external" or "external (overrides built-in)".
func (p Plugin) Source() string {
	switch {
	case p.Builtin:
		return "built-in"
	case p.Overrides:
		return "external (overrides built-in)"
	}
	return "external"
}

// SHA256 hashes the plugin's executable (for built-ins, the argus binary).
func (p Plugin) SHA256() (string, error) { return fileSHA256(p.Path) }

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashes caches executables' SHA256 by path, size and modification time:
// the argus binary behind every built-in is tens of MiB, and a status
// request should not hash it again.
var hashes = &hashCache{m: map[string]hashEntry{}}

type hashCache struct {
	mu sync.Mutex
	m  map[string]hashEntry
}

type hashEntry struct {
	size int64
	mod  time.Time
	sum  string
}

func (c *hashCache) sum(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	e, ok := c.m[path]
	c.mu.Unlock()
	if ok && e.size == fi.Size() && e.mod.Equal(fi.ModTime()) {
		return e.sum, nil
	}
	sum, err := fileSHA256(path)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.m[path] = hashEntry{fi.Size(), fi.ModTime(), sum}
	c.mu.Unlock()
	return sum, nil
}

// SHA256Of hashes the executable at path like Plugin.SHA256, cached by
// path, size and modification time.
func SHA256Of(path string) (string, error) { return hashes.sum(path) }

// Catalog is the set of plugins instances can name: the built-ins and the
// plugins discovered in the plugin directory. It is immutable.
type Catalog struct {
	dir     string
	plugins map[string]Plugin
	refused map[string]error
}

// NewCatalog is a catalogue of built-ins only.
func NewCatalog(builtins ...Plugin) *Catalog {
	c := &Catalog{plugins: map[string]Plugin{}, refused: map[string]error{}}
	for _, b := range builtins {
		b.Builtin = true
		c.plugins[b.Name] = b
	}
	return c
}

// Options relax what Scan accepts.
type Options struct {
	// AllowGroupWritable accepts a plugin whose file or directories are
	// writable by their group (configuration:
	// plugin_dir_allow_group_writable). Default false.
	AllowGroupWritable bool
}

// Scan builds the catalogue from the built-ins and the executables
// named argus-plugin-<name> in dir. A missing dir means no external
// plugins. An external plugin replaces the built-in of the same name.
//
// Argus refuses to run (and lists in Refused) an external plugin that is
// not a regular executable file, whose name is not a valid plugin name,
// or that someone other than root and the user Argus runs as could
// replace: the file, after following symbolic links, and every directory
// above it up to /, and dir and every directory above it, must be owned
// by root or that user; none may be writable by everyone, except a
// directory with the sticky bit (/tmp); and none may be writable by its
// group (again except sticky directories) unless opts allow it. A refused
// name is not silently replaced by the built-in of the same name. The
// error is about dir itself (unreadable, not a directory).
func Scan(dir string, opts Options, builtins ...Plugin) (*Catalog, error) {
	c := NewCatalog(builtins...)
	c.dir = dir
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("plugin directory: %w", err)
	}
	if !st.IsDir() {
		return c, fmt.Errorf("plugin directory %s is not a directory", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return c, fmt.Errorf("plugin directory: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return c, fmt.Errorf("plugin directory: %w", err)
	}
	dirProblem := checkDirs(abs, opts)
	for _, e := range entries {
		file := e.Name()
		name, ok := strings.CutPrefix(file, ExecutablePrefix)
		if !ok || e.IsDir() {
			continue
		}
		path := filepath.Join(abs, file)
		refuse := func(format string, args ...any) {
			c.refused[name] = fmt.Errorf("%w: %s: %s", ErrRefused, path, fmt.Sprintf(format, args...))
			delete(c.plugins, name)
		}
		if !nameRE.MatchString(name) {
			refuse("%q is not a valid plugin name (letters, digits, '_' and '-', starting with a letter)", name)
			continue
		}
		if dirProblem != nil {
			refuse("%v", dirProblem)
			continue
		}
		if err := checkFile(path, opts); err != nil {
			refuse("%v", err)
			continue
		}
		_, builtin := c.plugins[name]
		c.plugins[name] = Plugin{Name: name, Path: path, Overrides: builtin}
	}
	return c, nil
}

// checkFile checks a plugin's executable: what path resolves to, and the
// directories above that.
func checkFile(path string, opts Options) error {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	st, err := os.Stat(real)
	if err != nil {
		return err
	}
	what := "the file"
	if real != path {
		what = "its target " + real
	}
	switch {
	case !st.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", what)
	case st.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("%s is not executable (mode %v)", what, st.Mode().Perm())
	}
	if err := checkOwnerMode(what, st, opts); err != nil {
		return err
	}
	return checkDirs(filepath.Dir(real), opts)
}

// checkDirs checks dir (absolute, symbolic links resolved or not) and
// every directory above it.
func checkDirs(dir string, opts Options) error {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	for d := real; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		if err := checkOwnerMode("the directory "+d, st, opts); err != nil {
			return err
		}
		if filepath.Dir(d) == d {
			return nil
		}
	}
}

// checkOwnerMode refuses what someone other than root and this user could
// replace or rewrite (see Scan).
func checkOwnerMode(what string, st fs.FileInfo, opts Options) error {
	perm := st.Mode().Perm()
	sticky := st.IsDir() && st.Mode()&fs.ModeSticky != 0
	if uid, ok := proc.FileOwner(st); ok && uid != 0 && uid != os.Geteuid() {
		return fmt.Errorf("%s is owned by uid %d, neither root nor the user Argus runs as (uid %d)", what, uid, os.Geteuid())
	}
	switch {
	case perm&0o002 != 0 && !sticky:
		return fmt.Errorf("%s is writable by everyone (mode %v)", what, perm)
	case perm&0o020 != 0 && !sticky && !opts.AllowGroupWritable:
		return fmt.Errorf("%s is writable by its group (mode %v); set plugin_dir_allow_group_writable = true to allow that", what, perm)
	}
	return nil
}

// Dir is the plugin directory the catalogue was discovered in ("" for
// built-ins only).
func (c *Catalog) Dir() string { return c.dir }

// Lookup returns the plugin called name, or an error wrapping
// ErrUnknownPlugin or ErrRefused.
func (c *Catalog) Lookup(name string) (Plugin, error) {
	if err, ok := c.refused[name]; ok {
		return Plugin{}, err
	}
	p, ok := c.plugins[name]
	if !ok {
		where := "no built-in plugin has that name"
		if c.dir != "" {
			where += fmt.Sprintf(" and %s has no %s%s", c.dir, ExecutablePrefix, name)
		}
		return Plugin{}, fmt.Errorf("%w %q: %s", ErrUnknownPlugin, name, where)
	}
	return p, nil
}

// Plugins lists the usable plugins sorted by name.
func (c *Catalog) Plugins() []Plugin {
	var out []Plugin
	for _, name := range slices.Sorted(maps.Keys(c.plugins)) {
		out = append(out, c.plugins[name])
	}
	return out
}

// Refused lists why each refused plugin was refused, sorted by name.
func (c *Catalog) Refused() []error {
	var out []error
	for _, name := range slices.Sorted(maps.Keys(c.refused)) {
		out = append(out, c.refused[name])
	}
	return out
}

// FromConfig scans the plugins in cfg's plugin_dir (relative to the
// configuration file) beside the built-ins.
func FromConfig(cfg *config.Config, builtins ...Plugin) (*Catalog, error) {
	dir := cfg.PluginDir
	if !filepath.IsAbs(dir) && !strings.HasPrefix(cfg.Filename, "<") {
		dir = filepath.Join(filepath.Dir(cfg.Filename), dir)
	}
	return Scan(dir, Options{AllowGroupWritable: cfg.PluginDirAllowGroupWritable}, builtins...)
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
